namespace LlavaModal.Abstractions.IO;

/// <summary>
/// The one guard for every path LlavaModal writes to on a user's word (<c>--logits-out</c>, <c>encode --out</c>,
/// <c>attach-audio --out</c>, <c>init --out</c>, <c>train --out</c>, <see cref="SafeWrite"/>): paths are compared after
/// resolving symbolic links the way the OS does (a link, then <c>..</c> from where it points), so no spelling of a path
/// reaches an input; an existing file is replaced only when the caller says so; and a file is written under a short
/// temporary name next to its target, then renamed, so a valid 255-byte file name stays valid and a failed write leaves
/// nothing behind.
/// </summary>
public static class OutputPaths
{
    const int MaxLinkHops = 40;

    static StringComparison PathComparison =>
        OperatingSystem.IsWindows() || OperatingSystem.IsMacOS() ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;

    /// <summary>The absolute path <paramref name="path"/> names once every symbolic link among its existing components is resolved.</summary>
    /// <exception cref="IOException">More than 40 links in a chain (a loop).</exception>
    public static string Resolve(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        int hops = 0;
        return Resolve(path, ref hops);
    }

    static string Resolve(string path, ref int hops)
    {
        // Windows applies '..' to the text before the file system sees it; POSIX applies it to where a link led.
        var full = OperatingSystem.IsWindows() ? Path.GetFullPath(path) : Path.IsPathRooted(path) ? path : Path.Combine(Environment.CurrentDirectory, path);
        var root = Path.GetPathRoot(full)!;
        var current = root;
        foreach (var part in full[root.Length..].Split(['/', Path.DirectorySeparatorChar], StringSplitOptions.RemoveEmptyEntries))
        {
            if (part == ".") continue;
            if (part == "..")
            {
                current = Path.GetDirectoryName(current) ?? root;
                continue;
            }
            var next = Path.Combine(current, part);
            if (new FileInfo(next).LinkTarget is { } target)
            {
                if (++hops > MaxLinkHops) throw new IOException($"{path}: too many levels of symbolic links.");
                next = Resolve(Path.IsPathRooted(target) ? target : Path.Combine(current, target), ref hops);
            }
            current = next;
        }
        return current;
    }

    /// <summary>
    /// Checks that the file <paramref name="output"/> may be written and returns the resolved path to write: it is not one of
    /// <paramref name="inputs"/> (files or folders, by any spelling, symbolic or hard link), not inside an input folder,
    /// not a folder or special file, and, unless <paramref name="overwrite"/>, not an existing file.
    /// </summary>
    /// <param name="output">Where the user asked the file to go.</param>
    /// <param name="inputs">Every file and folder the operation reads.</param>
    /// <param name="overwrite">Replace an existing file that is no input (<c>--force</c>).</param>
    /// <param name="option">The option or parameter that named the output, for messages.</param>
    /// <param name="overwriteHint">How the user allows replacing an existing file, for messages.</param>
    /// <exception cref="ArgumentException">The output is refused (the message says why and what to do).</exception>
    public static string CheckFile(string output, IEnumerable<string?> inputs, bool overwrite, string option = "output", string overwriteHint = "--force")
    {
        ArgumentException.ThrowIfNullOrEmpty(output);
        ArgumentNullException.ThrowIfNull(inputs);
        var resolved = Resolve(output);
        var facts = FileProbe.Stat(resolved);
        foreach (var input in Resolved(inputs))
        {
            if (Same(resolved, input.Path) || facts.Kind == FileKind.Regular && facts.SameFileAs(input.Facts))
                throw new ArgumentException($"{option} {output} is the input {input.Given}; inputs are never overwritten. Choose another path.", option);
            if (input.Facts.Kind == FileKind.Directory && Inside(resolved, input.Path))
                throw new ArgumentException($"{option} {output} is inside the input folder {input.Given}; choose a path outside it.", option);
        }
        if (facts.Kind == FileKind.Directory) throw new ArgumentException($"{option} {output} is a folder; give a file name.", option);
        if (facts.Kind is not (FileKind.Missing or FileKind.Regular))
            throw new ArgumentException($"{option} {output} is {FileProbe.Describe(facts.Kind)}; only regular files are written.", option);
        bool exists = facts.Kind == FileKind.Regular || new FileInfo(output).LinkTarget is not null;
        if (exists && !overwrite)
            throw new ArgumentException($"{option} {output} already exists; pass {overwriteHint} to replace it (inputs are never replaced).", option);
        if (!Directory.Exists(Path.GetDirectoryName(resolved)))
            throw new ArgumentException($"{option} {output}: the folder {Path.GetDirectoryName(output)} does not exist.", option);
        return resolved;
    }

    /// <summary>
    /// Checks that the folder <paramref name="output"/> may be written and returns its resolved path: it neither is, lies
    /// inside nor contains any of <paramref name="inputs"/>, is not a file, and is new or empty unless <paramref name="overwrite"/>.
    /// </summary>
    /// <exception cref="ArgumentException">The folder is refused (the message says why and what to do).</exception>
    public static string CheckFolder(string output, IEnumerable<string?> inputs, bool overwrite, string option = "output", string overwriteHint = "--force")
    {
        ArgumentException.ThrowIfNullOrEmpty(output);
        ArgumentNullException.ThrowIfNull(inputs);
        var resolved = Resolve(output);
        foreach (var input in Resolved(inputs))
        {
            if (Same(resolved, input.Path))
                throw new ArgumentException($"{option} {output} is the input {input.Given}; choose a folder outside every input.", option);
            if (Inside(resolved, input.Path))
                throw new ArgumentException($"{option} {output} is inside the input folder {input.Given}; choose a folder outside every input.", option);
            if (Inside(input.Path, resolved))
                throw new ArgumentException($"{option} {output} contains the input {input.Given}; choose a folder that holds no input.", option);
        }
        var facts = FileProbe.Stat(resolved);
        if (facts.Kind is not (FileKind.Missing or FileKind.Directory))
            throw new ArgumentException($"{option} {output} is {FileProbe.Describe(facts.Kind)}; give a new folder.", option);
        if (facts.Kind == FileKind.Directory && !overwrite && Directory.EnumerateFileSystemEntries(resolved).Any())
            throw new ArgumentException($"{option} {output} already exists and is not empty; choose a new folder, or pass {overwriteHint} to write into it.", option);
        return resolved;
    }

    /// <summary>A short, unused temporary file name in <paramref name="target"/>'s folder (its own name may already use the 255 bytes a name may have).</summary>
    public static string TemporaryNextTo(string target)
    {
        ArgumentException.ThrowIfNullOrEmpty(target);
        var folder = Path.GetDirectoryName(Path.GetFullPath(target))!;
        return Path.Combine(folder, $".llavamodal-{Random.Shared.Next():x8}.tmp");
    }

    /// <summary>
    /// Writes a file through a temporary file next to it, renamed onto <paramref name="path"/> only when <paramref name="write"/>
    /// finished; on failure the temporary file is removed and an existing <paramref name="path"/> is untouched.
    /// </summary>
    public static void SafeWrite(string path, Action<FileStream> write)
    {
        ArgumentNullException.ThrowIfNull(write);
        var temp = TemporaryNextTo(path);
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20)) write(stream);
            File.Move(temp, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
    }

    sealed record ResolvedInput(string Given, string Path, FileFacts Facts);

    static IEnumerable<ResolvedInput> Resolved(IEnumerable<string?> inputs)
    {
        foreach (var input in inputs)
        {
            if (string.IsNullOrEmpty(input)) continue;
            var path = Resolve(input);
            yield return new ResolvedInput(input, path, FileProbe.Stat(path));
        }
    }

    static bool Same(string a, string b) =>
        string.Equals(Path.TrimEndingDirectorySeparator(a), Path.TrimEndingDirectorySeparator(b), PathComparison);

    /// <summary>True when <paramref name="path"/> lies below the folder <paramref name="folder"/>.</summary>
    static bool Inside(string path, string folder) =>
        path.StartsWith(Path.TrimEndingDirectorySeparator(folder) + Path.DirectorySeparatorChar, PathComparison);
}
