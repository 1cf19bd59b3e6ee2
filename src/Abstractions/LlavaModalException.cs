namespace LlavaModal.Abstractions;

/// <summary>Base type of every error LlavaModal raises for bad input, so callers can catch them as one family.</summary>
public class LlavaModalException : Exception
{
    /// <summary>Creates the exception with a message that names the problem.</summary>
    public LlavaModalException(string message) : base(message) { }

    /// <summary>Creates the exception with a message and the error that caused it.</summary>
    public LlavaModalException(string message, Exception? inner) : base(message, inner) { }
}

/// <summary>A checkpoint file or folder is missing, malformed or does not fit the model (names the file and, where known, the key).</summary>
public class CheckpointException : LlavaModalException
{
    /// <summary>Creates the exception.</summary>
    public CheckpointException(string path, string message, Exception? inner = null)
        : base($"{path}: {message}", inner) => Path = path;

    /// <summary>The file or folder at fault.</summary>
    public string Path { get; }
}

/// <summary>A <c>config.json</c> (or similar JSON) lacks a required key or holds an unsupported value.</summary>
public sealed class ConfigException : CheckpointException
{
    /// <summary>Creates the exception.</summary>
    public ConfigException(string path, string key, string message, Exception? inner = null)
        : base(path, $"key '{key}': {message}", inner) => Key = key;

    /// <summary>The offending key, dotted for nested keys (<c>text_config.hidden_size</c>).</summary>
    public string Key { get; }
}
