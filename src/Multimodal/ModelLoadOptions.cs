using LlavaModal.Abstractions.Architectures;
using LlavaModal.Abstractions.Layers;
using LlavaModal.Core.Attention;
using LlavaModal.Core.Kernels;
using LlavaModal.Core.Modules;
using LlavaModal.Core.Quantization;
using LlavaModal.Multimodal.Loading;
using static TorchSharp.torch;

namespace LlavaModal.Multimodal;

/// <summary>How to load a model: dtype, device, chat template, attention kernel, linear layers, KV cache dtype, batch size, and the registry of parts.</summary>
public sealed record ModelLoadOptions
{
    /// <summary>Weights and activations dtype; null keeps the checkpoint's <c>torch_dtype</c>.</summary>
    public ScalarType? DType { get; init; }

    /// <summary>Device name (<c>cpu</c>, <c>cuda</c>, <c>cuda:1</c>); CUDA needs the CUDA runtime build.</summary>
    public string Device { get; init; } = "cpu";

    /// <summary>Chat template name overriding the one detected from the checkpoint (see <see cref="LlavaModal.Tokenizers.Chat.ChatTemplate.Named"/>).</summary>
    public string? ChatTemplate { get; init; }

    /// <summary>Attention kernel: <c>eager</c> (default; the reference's arithmetic, softmax in float32) or <c>sdpa</c> (libtorch's fused kernel), or a registered one.</summary>
    public string Attention { get; init; } = EagerAttention.KernelName;

    /// <summary>Linear layer factory: <c>torch</c> (default) or a registered one (a quantized format, an adapter).</summary>
    public string Linear { get; init; } = TorchLinearFactory.FactoryName;

    /// <summary>
    /// Weight format of the decoder's linear layers, run by LlavaModal's CPU kernels: <c>F32</c>, <c>BF16</c>, <c>F16</c>,
    /// or block-quantized <c>Int8</c> / <c>Int4</c>, packed from the checkpoint as it is read (the vision tower and projector
    /// keep <see cref="DType"/>, which stays the dtype of activations and, unless <see cref="KvCache"/> says otherwise, of the KV cache). Null: TorchSharp's layers in
    /// <see cref="DType"/>, or the stored format of a folder written by <c>llava-modal quantize</c>. CPU only.
    /// </summary>
    public WeightFormat? Weights { get; init; }

    /// <summary>
    /// The dtype the KV cache stores keys and values in; null (default): the model's dtype. <c>Float16</c> or <c>BFloat16</c>
    /// under an f32 model halves the cache's memory (and the prompt cache's entries) and the bytes a decode step's attention
    /// reads at long contexts; the model still computes in its dtype, widening the cache as it reads it. Keys and values
    /// are rounded to 16 bits when stored, so logits move slightly (see the README's Performance section for measured bounds).
    /// </summary>
    public ScalarType? KvCache { get; init; }

    /// <summary>
    /// A LoRA adapter folder in PEFT's layout (<c>adapter_config.json</c> + <c>adapter_model.safetensors</c>) to merge into
    /// the weights as they are read (<c>W + scaling · B A</c>, and the adapter's saved modules such as LLaVA's projector in
    /// place of the base's): the model then runs at the base's speed, in any <see cref="DType"/> or <see cref="Weights"/>
    /// format. Null: none. (Loading an adapter folder as the model directory does the same with the base it names.)
    /// </summary>
    public string? Adapter { get; init; }

    /// <summary>
    /// Most requests decoded together (continuous batching); more wait for a free row. Each row holds its own KV cache,
    /// grown as it is used, so memory follows the requests actually running. 1 decodes one request at a time.
    /// </summary>
    public int MaxBatch { get; init; } = 8;

    /// <summary>
    /// Memory for the prompt cache (default 1 GiB; 0 turns it off): the keys and values of finished requests are kept, and
    /// a later prompt that starts with the same tokens and media (a chat's next turn, a shared system prompt) loads that
    /// prefix instead of recomputing it; media inside it are not encoded again. Least recently used entries are evicted.
    /// Answers are the same with or without it (to float rounding of the attention sums).
    /// </summary>
    public long PromptCacheBytes { get; init; } = DefaultPromptCacheBytes;

    /// <summary>The default <see cref="PromptCacheBytes"/>: 1 GiB.</summary>
    public const long DefaultPromptCacheBytes = 1L << 30;

    /// <summary>The token budget of every request (default: the model's context, at most <see cref="ModelLimits.DefaultContextCap"/>).</summary>
    public ModelLimits Limits { get; init; } = new();

    /// <summary>The decoder families, vision towers, kernels and linear factories to assemble from (default: <see cref="BuiltInArchitectures.Catalog"/>).</summary>
    public IArchitectureCatalog? Architectures { get; init; }

    internal IArchitectureCatalog Catalog => Architectures ?? BuiltInArchitectures.Catalog;

    internal Device ResolveDevice()
    {
        // TorchSharp itself calls an unavailable CUDA device unknown; say what is missing instead.
        if (Device.StartsWith("cuda", StringComparison.OrdinalIgnoreCase) && !cuda.is_available())
            throw new ArgumentException(
                $"Device '{Device}' asks for CUDA, but CUDA is not available in this process: the loaded libtorch is the CPU runtime (libtorch-cpu-linux-x64), " +
                "or no CUDA GPU and driver were found. Build with the CUDA runtime package (TorchSharp-cuda-linux): `dotnet build -c Release -p:TorchDevice=cuda` " +
                "(see \"Building for CUDA\" in the README; an application using the packages references TorchSharp-cuda-linux instead of LlavaModal.Runtime.Cpu), " +
                "or use --device cpu.", nameof(Device));
        try { return device(Device); }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or FormatException)
        {
            throw new ArgumentException($"Unknown device '{Device}' (expected cpu, cuda or cuda:N).", nameof(Device), e);
        }
    }

    /// <summary>The build context for <paramref name="dtype"/> on the resolved device, with the named kernel and linear factory.</summary>
    /// <exception cref="ArgumentException">An attention kernel or linear factory that is not registered (the message lists those that are).</exception>
    /// <param name="dtype">Compute dtype.</param>
    /// <param name="stored">The format of a packed folder's weights, if it is one.</param>
    internal ModelBuildContext BuildContext(ScalarType dtype, WeightFormat? stored = null)
    {
        var catalog = Catalog;
        var attention = catalog.FindAttention(Attention)
            ?? throw new ArgumentException($"Unknown attention kernel '{Attention}' (registered: {string.Join(", ", catalog.AttentionNames)}).", nameof(Attention));
        if (stored is not null && Weights is not null && Weights != stored)
            throw new ArgumentException($"The model folder stores {stored.Value.Name()} weights, which load only as {stored.Value.Name()} (asked for {Weights.Value.Name()}); quantize the original checkpoint instead.", nameof(Weights));
        var format = Weights ?? stored;
        if (format is not null && Linear != TorchLinearFactory.FactoryName)
            throw new ArgumentException($"Weight format {format.Value.Name()} and linear layer factory '{Linear}' both replace the linear layers; choose one.", nameof(Weights));
        var linear = format is { } f ? new PackedLinearFactory(f) : catalog.FindLinear(Linear)
            ?? throw new ArgumentException($"Unknown linear layer factory '{Linear}' (registered: {string.Join(", ", catalog.LinearNames)}).", nameof(Linear));
        if (KvCache is { } cache && cache is not (ScalarType.Float32 or ScalarType.Float16 or ScalarType.BFloat16))
            throw new ArgumentException($"KV cache dtype {cache} is not one of Float32, Float16, BFloat16 (null: the model's dtype).", nameof(KvCache));
        return new ModelBuildContext(dtype, ResolveDevice(), linear, attention) { KvCacheDType = KvCache };
    }
}
