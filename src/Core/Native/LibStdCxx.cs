using System.Runtime.InteropServices;

namespace LlavaModal.Core.Native;

/// <summary>Asks the dynamic loader whether the system libstdc++ defines a symbol at a given version.</summary>
static partial class LibStdCxx
{
    const int RtldNow = 2;

    /// <summary>True when <c>libstdc++.so.6</c> defines <paramref name="symbol"/> with version <paramref name="version"/>.</summary>
    internal static bool HasVersion(string symbol, string version)
    {
        if (!NativeLibrary.TryLoad("libstdc++.so.6", out var handle))
            return false;
        try
        {
            return DlvsymLibc(handle, symbol, version) != IntPtr.Zero;
        }
        catch (EntryPointNotFoundException)
        {
            // glibc before 2.34 keeps dlvsym in libdl.
            return DlvsymLibdl(handle, symbol, version) != IntPtr.Zero;
        }
    }

    [LibraryImport("libc.so.6", EntryPoint = "dlvsym", StringMarshalling = StringMarshalling.Utf8)]
    private static partial IntPtr DlvsymLibc(IntPtr handle, string symbol, string version);

    [LibraryImport("libdl.so.2", EntryPoint = "dlvsym", StringMarshalling = StringMarshalling.Utf8)]
    private static partial IntPtr DlvsymLibdl(IntPtr handle, string symbol, string version);
}
