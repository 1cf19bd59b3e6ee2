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
    public unsafe void A_large_buffer_starts_on_a_huge_page_and_is_advised_for_huge_pages()
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
            var flags = MappingFlags((ulong)buffer);
            Assert.Contains("hg", flags.Split(' '));
            // The advice stops at the buffer's end: its last, partial huge page is not covered, nor anything past it.
            Assert.DoesNotContain("hg", MappingFlags((ulong)buffer + bytes + 4096).Split(' '));
        }
        finally
        {
            HugePages.Free(buffer);
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
            HugePages.Free(buffer);
        }
    }

    /// <summary>The VmFlags of the mapping in /proc/self/smaps that holds <paramref name="address"/> ("" when none does).</summary>
    static string MappingFlags(ulong address)
    {
        bool inside = false;
        foreach (var line in File.ReadLines("/proc/self/smaps"))
        {
            var dash = line.IndexOf('-');
            var space = line.IndexOf(' ');
            if (dash > 0 && space > dash && ulong.TryParse(line.AsSpan(0, dash), NumberStyles.HexNumber, null, out var start)
                && ulong.TryParse(line.AsSpan(dash + 1, space - dash - 1), NumberStyles.HexNumber, null, out var end))
                inside = address >= start && address < end;
            else if (inside && line.StartsWith("VmFlags:", StringComparison.Ordinal))
                return line["VmFlags:".Length..].Trim();
        }
        return "";
    }
}
