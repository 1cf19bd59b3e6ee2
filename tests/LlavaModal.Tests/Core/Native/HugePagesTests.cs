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
}
