using LlavaModal.Abstractions.Tensors;
using LlavaModal.Core.Checkpoints;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace LlavaModal.Core.Adapters;

/// <summary>
/// A linear layer with a LoRA update: <c>y = x Wᵀ + b + scaling · B(A(dropout(x)))</c>. <c>weight</c> and <c>bias</c> keep
/// the base checkpoint's names (so the base loads as it always does); <c>lora_A.weight</c> [rank, in] and
/// <c>lora_B.weight</c> [out, rank] are PEFT's names. A starts Kaiming-uniform and B at zero (PEFT's default), so an
/// untrained adapter changes nothing.
/// </summary>
sealed class LoraLinear : nn.Module<Tensor, Tensor>, IOptionalWeights
{
#pragma warning disable IDE1006 // field names are checkpoint tensor names
    readonly Parameter weight;
    readonly Parameter? bias;
    readonly Linear lora_A, lora_B;
#pragma warning restore IDE1006
    readonly double scaling, dropout;

    public LoraLinear(long inFeatures, long outFeatures, bool hasBias, LoraSettings settings, ScalarType dtype, Device device) : base(nameof(LoraLinear))
    {
        weight = new Parameter(empty([outFeatures, inFeatures], dtype, device));
        if (hasBias) bias = new Parameter(empty([outFeatures], dtype, device));
        if (!WeightInit.Skipping)
        {
            // nn.Linear's own initialisation, for a model built from scratch.
            using var _ = no_grad();
            nn.init.kaiming_uniform_(weight, Math.Sqrt(5));
            if (bias is not null) nn.init.uniform_(bias, -1 / Math.Sqrt(inFeatures), 1 / Math.Sqrt(inFeatures));
        }
        // The adapter is initialised even when loading: a base checkpoint has no lora_A / lora_B.
        lora_A = nn.Linear(inFeatures, settings.Rank, hasBias: false, device: device, dtype: dtype);
        lora_B = nn.Linear(settings.Rank, outFeatures, hasBias: false, device: device, dtype: dtype);
        using (no_grad()) nn.init.zeros_(lora_B.weight);
        scaling = settings.Scaling;
        dropout = settings.Dropout;
        RegisterComponents();
    }

    /// <summary>Rank of the update.</summary>
    public long Rank => lora_A.weight.shape[0];

    /// <inheritdoc />
    public IReadOnlyList<string> OptionalParameters { get; } = ["lora_A.weight", "lora_B.weight"];

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var y = nn.functional.linear(x, weight, bias);
        var input = training && dropout > 0 ? nn.functional.dropout(x, dropout, training: true) : x;
        var update = lora_B.forward(lora_A.forward(input));
        return y.Plus_(update.MulScalar(scaling)).MoveToOuterDisposeScope();
    }
}
