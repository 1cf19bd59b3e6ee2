using System.CommandLine;
using LlavaModal.Abstractions.IO;

namespace LlavaModal.Cli;

/// <summary>
/// What every command that writes does with its output option: the path is checked by <see cref="OutputPaths"/> (symbolic
/// links resolved, inputs never written, an existing output replaced only with <c>--force</c>) before anything is
/// loaded, and a folder the command created is removed again when the command fails, so no partial output is left.
/// </summary>
static class Outputs
{
    /// <summary>The <c>--force</c> option of a command that writes.</summary>
    public static Option<bool> ForceOption() => new("--force") { Description = "Replace an existing output file, or write into a non-empty output folder (inputs are never overwritten)." };

    /// <summary>The resolved path of an output file, refused when it is an input or exists without <c>--force</c>.</summary>
    public static string File(string output, string option, bool force, params IEnumerable<string?> inputs) =>
        OutputPaths.CheckFile(output, inputs, force, option);

    /// <summary>The resolved path of an output folder, refused when it overlaps an input or is not empty without <c>--force</c>.</summary>
    public static string Folder(string output, string option, bool force, params IEnumerable<string?> inputs) =>
        OutputPaths.CheckFolder(output, inputs, force, option);

    /// <summary>Runs <paramref name="write"/>, which fills <paramref name="folder"/>; when it fails, a folder that did not exist is deleted and one that was empty is emptied.</summary>
    public static T IntoFolder<T>(string folder, Func<T> write)
    {
        ArgumentNullException.ThrowIfNull(write);
        bool existed = Directory.Exists(folder);
        bool wasEmpty = !existed || !Directory.EnumerateFileSystemEntries(folder).Any();
        try
        {
            return write();
        }
        catch
        {
            if (wasEmpty) Remove(folder, keepFolder: existed);
            throw;
        }
    }

    static void Remove(string folder, bool keepFolder)
    {
        try
        {
            if (!Directory.Exists(folder)) return;
            if (!keepFolder)
            {
                Directory.Delete(folder, recursive: true);
                return;
            }
            foreach (var entry in new DirectoryInfo(folder).EnumerateFileSystemInfos())
            {
                if (entry is DirectoryInfo d && d.LinkTarget is null) d.Delete(recursive: true);
                else entry.Delete();
            }
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}
