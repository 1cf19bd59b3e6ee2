using LlavaModal.Tokenizers.Chat;

namespace LlavaModal.Multimodal.DependencyInjection;

/// <summary>Configuration of the model registered with <c>AddLlavaModal</c> (options pattern).</summary>
public sealed class LlavaModalOptions
{
    /// <summary>The Hugging Face model folder to load (required).</summary>
    public string? ModelDirectory { get; set; }

    /// <summary><c>cpu</c> (default), <c>cuda</c> or <c>cuda:N</c>.</summary>
    public string Device { get; set; } = "cpu";

    /// <summary><c>f32</c>, <c>bf16</c> or <c>f16</c>; null keeps the checkpoint's dtype.</summary>
    public string? DType { get; set; }

    /// <summary>Overrides the detected chat template (<c>vicuna_v1</c>, <c>llama2</c>, <c>llama3</c>, <c>chatml</c>).</summary>
    public string? ChatTemplate { get; set; }

    internal ModelLoadOptions ToLoadOptions() => new()
    {
        Device = Device,
        ChatTemplate = ChatTemplate,
        DType = DType switch
        {
            null => null,
            "f32" or "float32" => TorchSharp.torch.ScalarType.Float32,
            "bf16" or "bfloat16" => TorchSharp.torch.ScalarType.BFloat16,
            "f16" or "float16" => TorchSharp.torch.ScalarType.Float16,
            _ => throw new ArgumentException($"LlavaModalOptions.DType '{DType}' is not one of f32, bf16, f16."),
        },
    };
}
