using LlavaModal.Abstractions.Modality;
using LlavaModal.Core.Architectures;
using LlavaModal.Decoder.Llama;
using LlavaModal.Decoder.Qwen2;
using LlavaModal.Decoder.Qwen2VL;
using LlavaModal.Decoder.Qwen3;
using LlavaModal.Encoders.Vision.Clip;
using LlavaModal.Encoders.Vision.Llava;
using LlavaModal.Encoders.Vision.Siglip;

namespace LlavaModal.Multimodal.Loading;

/// <summary>
/// What LlavaModal knows out of the box: the decoder families and vision towers of its own assemblies (the one
/// table to extend when a family is added to the library), the attention kernels and linear factory of Core, and the
/// LLaVA image plugin.
/// </summary>
public static class BuiltInArchitectures
{
    /// <summary>A new catalog with every built-in part; add your own to it.</summary>
    public static ArchitectureCatalog Create() => new ArchitectureCatalog()
        .Add(new LlamaFamily())
        .Add(new Qwen2Family())
        .Add(new Qwen2VLFamily())
        .Add(new Qwen3Family())
        .Add(new ClipVisionTowerFamily())
        .Add(new SiglipVisionTowerFamily());

    /// <summary>The shared catalog of built-in parts.</summary>
    public static ArchitectureCatalog Catalog { get; } = Create();

    /// <summary>The built-in plugin factories (the LLaVA image plugin, LLaVA-1.5 padding on).</summary>
    public static IReadOnlyList<IModalityEncoderFactory> Plugins() => [new LlavaVisionFactory()];
}
