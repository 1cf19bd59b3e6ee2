using System.Globalization;
using LlavaModal.Core.Native;

namespace LlavaModal.Tests.Core.Native;

public class HugePagesTests
{
    [Fact]
    public void Libtorch_is_asked_for_huge_pages_unless_the_environment_says_otherwise()
    {
        if (!OperatingSystem.IsLinux()) return;
        TorchNativeRuntime.EnsureLoadable();
        // The C environment, where libc10 reads it (not .NET's managed copy).
        Assert.Equal(Environment.GetEnvironmentVariable(HugePages.Variable) ?? "1", HugePages.NativeValue());
    }

    [Fact]
    public void OpenMP_threads_wait_passively_unless_the_environment_says_otherwise()
    {
        if (!OperatingSystem.IsLinux()) return;
        TorchNativeRuntime.EnsureLoadable();
        // The C environment, where libgomp reads it when libtorch loads, for every host (not only the CLI).
        Assert.Equal(Environment.GetEnvironmentVariable(NativeEnvironment.OpenMpWaitPolicy) ?? "PASSIVE", NativeEnvironment.NativeValue(NativeEnvironment.OpenMpWaitPolicy));
        Assert.NotNull(NativeEnvironment.NativeValue(NativeEnvironment.OpenMpWaitPolicy));
    }

    [Fact]
    public unsafe void A_large_buffer_is_mapped_on_a_huge_page_boundary_and_advised_for_huge_pages()
    {
        nuint bytes = 3 * HugePages.PageBytes + 4096 + 7;
        var buffer = (byte*)HugePages.Allocate(bytes);
        try
        {
            new Span<byte>(buffer, (int)bytes).Fill(1);
            if (!OperatingSystem.IsLinux())
            {
                Assert.Equal(0ul, (ulong)buffer % 64);
                return;
            }
            Assert.Equal(0ul, (ulong)buffer % HugePages.PageBytes);
            var (start, end, flags) = Mapping((ulong)buffer);
            Assert.Contains("hg", flags.Split(' '));
            // The mapping covers the whole buffer (it may have merged with a neighbour of the same kind).
            Assert.True(start <= (ulong)buffer && end >= (ulong)buffer + bytes, $"mapping {start:x}-{end:x}, buffer {(ulong)buffer:x} + {bytes}");
        }
        finally
        {
            HugePages.Free(buffer, bytes);
        }
    }

    [Fact]
    public unsafe void A_small_buffer_is_64_byte_aligned()
    {
        var buffer = (byte*)HugePages.Allocate(1000);
        try
        {
            Assert.Equal(0ul, (ulong)buffer % 64);
        }
        finally
        {
            HugePages.Free(buffer, 1000);
        }
    }

    /// <summary>The extent and VmFlags of the mapping in /proc/self/smaps that holds <paramref name="address"/>.</summary>
    static (ulong Start, ulong End, string Flags) Mapping(ulong address)
    {
        (ulong Start, ulong End)? inside = null;
        foreach (var line in File.ReadLines("/proc/self/smaps"))
        {
            var dash = line.IndexOf('-');
            var space = line.IndexOf(' ');
            if (dash > 0 && space > dash && ulong.TryParse(line.AsSpan(0, dash), NumberStyles.HexNumber, null, out var start)
                && ulong.TryParse(line.AsSpan(dash + 1, space - dash - 1), NumberStyles.HexNumber, null, out var end))
                inside = address >= start && address < end ? (start, end) : null;
            else if (inside is { } extent && line.StartsWith("VmFlags:", StringComparison.Ordinal))
                return (extent.Start, extent.End, line["VmFlags:".Length..].Trim());
        }
        throw new InvalidOperationException($"No mapping holds 0x{address:x}.");
    }
}
