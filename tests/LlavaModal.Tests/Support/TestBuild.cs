using LlavaModal.Abstractions.Layers;
using LlavaModal.Core.Attention;
using LlavaModal.Core.Modules;
using static TorchSharp.torch;

namespace LlavaModal.Tests.Support;

/// <summary>Build contexts for modules made directly in tests: TorchSharp layers, eager attention, the CPU.</summary>
public static class TestBuild
{
    public static ModelBuildContext Of(ScalarType dtype) => new(dtype, CPU, TorchLinearFactory.Instance, new EagerAttention());

    public static ModelBuildContext Float32 => Of(ScalarType.Float32);
}
