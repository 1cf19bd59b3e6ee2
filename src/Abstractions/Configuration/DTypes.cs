using static TorchSharp.torch;

namespace LlavaModal.Abstractions.Configuration;

/// <summary>The one parser of dtype names: options and the CLI (<c>f32</c>, <c>bf16</c>, <c>f16</c>) and configs' <c>torch_dtype</c> (<c>float32</c>, ...).</summary>
public static class DTypes
{
    /// <summary>The names accepted, short and long.</summary>
    public const string Accepted = "f32, bf16, f16 (or float32, bfloat16, float16)";

    /// <summary>The dtype a name stands for, or null when the name is unknown.</summary>
    public static ScalarType? TryParse(string? name) => name switch
    {
        "f32" or "float32" => ScalarType.Float32,
        "bf16" or "bfloat16" => ScalarType.BFloat16,
        "f16" or "float16" => ScalarType.Float16,
        _ => null,
    };

    /// <summary>The dtype a name stands for.</summary>
    /// <param name="name">The name.</param>
    /// <param name="what">What was being read, for the message (<c>--dtype</c>, <c>LlavaModalOptions.DType</c>).</param>
    /// <exception cref="ArgumentException">An unknown name (the message lists the accepted ones).</exception>
    public static ScalarType Parse(string name, string what) =>
        TryParse(name) ?? throw new ArgumentException($"{what} '{name}' is not one of {Accepted}.");

    /// <summary>The <c>torch_dtype</c> name <c>save_pretrained</c> writes for a dtype.</summary>
    public static string ConfigName(ScalarType dtype) => dtype switch
    {
        ScalarType.BFloat16 => "bfloat16",
        ScalarType.Float16 => "float16",
        ScalarType.Float32 => "float32",
        _ => throw new ArgumentException($"{dtype} is not a weight dtype (float32, bfloat16, float16).", nameof(dtype)),
    };

    /// <summary>A config's <c>torch_dtype</c> (<c>float32</c> when absent).</summary>
    /// <exception cref="ConfigException">An unsupported name, naming the key.</exception>
    public static ScalarType FromConfig(JsonConfig json, string key = "torch_dtype")
    {
        ArgumentNullException.ThrowIfNull(json);
        var name = json.String(key, "float32");
        return name is "float32" or "float16" or "bfloat16" ? TryParse(name)!.Value
            : throw json.Error(key, $"'{name}' is not supported (float32, float16, bfloat16).");
    }
}
