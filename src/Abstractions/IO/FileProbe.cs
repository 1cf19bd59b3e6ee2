using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace LlavaModal.Abstractions.IO;

/// <summary>What kind of thing a path names.</summary>
enum FileKind
{
    /// <summary>Nothing is there.</summary>
    Missing,
    /// <summary>A regular file.</summary>
    Regular,
    /// <summary>A folder.</summary>
    Directory,
    /// <summary>A named pipe: opening it for reading blocks until a writer comes.</summary>
    Fifo,
    /// <summary>A character or block device (<c>/dev/zero</c>, a disk): endless or huge data.</summary>
    Device,
    /// <summary>A socket or anything else.</summary>
    Other,
}

/// <summary>A path's kind, size and identity, symbolic links followed.</summary>
/// <param name="Kind">Regular file, folder, FIFO, device, ...</param>
/// <param name="Size">Bytes (regular files).</param>
/// <param name="Device">Device id, for identity (0 where unknown).</param>
/// <param name="Inode">Inode number, for identity (0 where unknown).</param>
readonly record struct FileFacts(FileKind Kind, long Size, ulong Device, ulong Inode)
{
    /// <summary>True when both name the same file (hard links and symbolic links included), as far as the OS tells.</summary>
    public bool SameFileAs(FileFacts other) => Inode != 0 && Inode == other.Inode && Device == other.Device;
}

/// <summary>
/// Asks the OS what a path is before anything opens it: .NET's own file APIs cannot tell a FIFO or a device from a regular
/// file, and opening a FIFO blocks forever. On Linux this is <c>statx</c> (a layout that is the same on every
/// architecture); elsewhere only files and folders are told apart (Windows has no FIFOs in its file system).
/// Compiled into LlavaModal.Abstractions and LlavaModal.Tokenizers (which references no other project).
/// </summary>
static partial class FileProbe
{
    const int AtFdCwd = -100;
    const uint StatxBasicStats = 0x7ff;
    const int StatxBufferBytes = 256;
    static bool statxMissing;

    /// <summary>The facts about <paramref name="path"/> (links followed).</summary>
    public static FileFacts Stat(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (OperatingSystem.IsLinux() && !statxMissing)
        {
            var buffer = new byte[StatxBufferBytes];
            try
            {
                if (Statx(AtFdCwd, path, 0, StatxBasicStats, buffer) == 0) return FromStatx(buffer);
                return new FileFacts(FileKind.Missing, 0, 0, 0);
            }
            catch (EntryPointNotFoundException) { statxMissing = true; }
            catch (DllNotFoundException) { statxMissing = true; }
        }
        if (Directory.Exists(path)) return new FileFacts(FileKind.Directory, 0, 0, 0);
        var file = new FileInfo(path);
        return file.Exists ? new FileFacts(FileKind.Regular, file.Length, 0, 0) : new FileFacts(FileKind.Missing, 0, 0, 0);
    }

    static FileFacts FromStatx(ReadOnlySpan<byte> b)
    {
        int mode = BinaryPrimitives.ReadUInt16LittleEndian(b[28..]);
        var kind = (mode & 0xF000) switch
        {
            0x8000 => FileKind.Regular,
            0x4000 => FileKind.Directory,
            0x1000 => FileKind.Fifo,
            0x2000 or 0x6000 => FileKind.Device,
            _ => FileKind.Other,
        };
        long size = (long)Math.Min(BinaryPrimitives.ReadUInt64LittleEndian(b[40..]), long.MaxValue);
        ulong inode = BinaryPrimitives.ReadUInt64LittleEndian(b[32..]);
        ulong device = ((ulong)BinaryPrimitives.ReadUInt32LittleEndian(b[136..]) << 32) | BinaryPrimitives.ReadUInt32LittleEndian(b[140..]);
        return new FileFacts(kind, size, device, inode);
    }

    /// <summary>Words for a kind, for messages.</summary>
    public static string Describe(FileKind kind) => kind switch
    {
        FileKind.Fifo => "a named pipe (FIFO)",
        FileKind.Device => "a device",
        FileKind.Directory => "a folder",
        FileKind.Missing => "missing",
        FileKind.Regular => "a regular file",
        _ => "not a regular file (a socket or other special file)",
    };

    [LibraryImport("libc", EntryPoint = "statx", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Statx(int dirFd, string path, int flags, uint mask, [Out] byte[] buffer);
}
