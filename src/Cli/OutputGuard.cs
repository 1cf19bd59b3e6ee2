namespace LlavaModal.Cli;

/// <summary>Keeps outputs from overwriting what the user gave as input.</summary>
static class OutputGuard
{
    /// <summary>Refuses an output path inside an input folder (a model's own files are never overwritten).</summary>
    public static void RefuseInsideInput(string output, string inputDirectory, string option)
    {
        var o = Path.GetFullPath(output);
        var i = Path.TrimEndingDirectorySeparator(Path.GetFullPath(inputDirectory)) + Path.DirectorySeparatorChar;
        if (o.StartsWith(i, StringComparison.Ordinal))
            throw new ArgumentException($"{option} {output} is inside the input folder {inputDirectory}; choose a path outside it.");
    }

    /// <summary>Refuses to write into a folder that already has content.</summary>
    public static void RequireEmptyOrNew(string directory, string option)
    {
        if (Directory.Exists(directory) && Directory.EnumerateFileSystemEntries(directory).Any())
            throw new ArgumentException($"{option} {directory} already exists and is not empty; choose a new folder.");
        if (File.Exists(directory))
            throw new ArgumentException($"{option} {directory} is a file; choose a new folder.");
    }
}
