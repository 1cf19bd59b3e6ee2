using LlavaModal.Abstractions.Architectures;
using LlavaModal.Abstractions.Configuration;
using LlavaModal.Core.Attention;
using LlavaModal.Core.Kernels;
using LlavaModal.Core.Modules;

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

    /// <summary>Attention kernel: <c>eager</c> (default) or <c>sdpa</c>, or one added with <c>AddAttentionKernel</c>.</summary>
    public string Attention { get; set; } = EagerAttention.KernelName;

    /// <summary>Linear layer factory: <c>torch</c> (default) or one added with <c>AddLinearFactory</c>.</summary>
    public string Linear { get; set; } = TorchLinearFactory.FactoryName;

    /// <summary>Weight format of the decoder's linear layers (<c>f32</c>, <c>bf16</c>, <c>f16</c>, <c>int8</c>, <c>int4</c>; null: torch layers). See <see cref="ModelLoadOptions.Weights"/>.</summary>
    public string? Weights { get; set; }

    /// <summary>The KV cache's dtype: <c>f16</c> or <c>bf16</c> (half the cache memory under an f32 model), <c>f32</c>; null: the model's dtype. See <see cref="ModelLoadOptions.KvCache"/>.</summary>
    public string? KvCache { get; set; }

    /// <summary>A PEFT LoRA adapter folder merged into the weights as they load (null: none). See <see cref="ModelLoadOptions.Adapter"/>.</summary>
    public string? Adapter { get; set; }

    /// <summary>Most requests decoded together (continuous batching; default 8). See <see cref="ModelLoadOptions.MaxBatch"/>.</summary>
    public int MaxBatch { get; set; } = 8;

    /// <summary>Memory for the prompt cache in bytes (default 1 GiB; 0: off). See <see cref="ModelLoadOptions.PromptCacheBytes"/>.</summary>
    public long PromptCacheBytes { get; set; } = ModelLoadOptions.DefaultPromptCacheBytes;

    /// <summary>Most positions of a request, prompt and answer together (null: the model's context; see <see cref="ModelLimits.MaxContextTokens"/>).</summary>
    public int? MaxContextTokens { get; set; }

    /// <summary>Most prompt positions computed in one forward (null: 256; see <see cref="ModelLimits.PrefillChunkTokens"/>).</summary>
    public int? PrefillChunkTokens { get; set; }

    /// <summary>
    /// Whether the model runs <see cref="MultimodalModel.WarmUp"/> as it loads (default false), so that the first request
    /// does not pay for .NET compiling the generation and encoder code: loading takes about a second longer.
    /// </summary>
    public bool WarmUp { get; set; }

    internal ModelLoadOptions ToLoadOptions(IArchitectureCatalog catalog) => new()
    {
        Limits = new ModelLimits { MaxContextTokens = MaxContextTokens, PrefillChunkTokens = PrefillChunkTokens },
        Device = Device,
        ChatTemplate = ChatTemplate,
        DType = DType is null ? null : DTypes.Parse(DType, "LlavaModalOptions.DType"),
        Attention = Attention,
        Linear = Linear,
        Weights = Weights is null ? null : WeightFormats.Parse(Weights) ?? throw new ArgumentException($"LlavaModalOptions.Weights: '{Weights}' is not a weight format (f32, bf16, f16, int8, int4)."),
        Adapter = Adapter,
        KvCache = KvCache is null ? null : DTypes.Parse(KvCache, "LlavaModalOptions.KvCache"),
        MaxBatch = MaxBatch,
        PromptCacheBytes = PromptCacheBytes,
        Architectures = catalog,
    };
}
