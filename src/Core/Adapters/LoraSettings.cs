namespace LlavaModal.Core.Adapters;

/// <summary>
/// A LoRA adapter's shape (Hu et al. 2021, as PEFT's <c>LoraConfig</c>): each targeted linear layer <c>W</c> computes
/// <c>x Wᵀ + scaling · B(A(dropout(x)))</c> with <c>A</c> [rank, in] and <c>B</c> [out, rank], <c>B</c> starting at zero so
/// training starts from the base model exactly; only <c>A</c> and <c>B</c> are trained.
/// </summary>
public sealed record LoraSettings
{
    /// <summary>The layers LLaMA-style decoders have, all targeted by default (QLoRA's finding: all linear layers beat attention-only at equal rank).</summary>
    public static IReadOnlyList<string> AllProjections { get; } = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];

    /// <summary>Rank <c>r</c> of the update (PEFT's <c>r</c>).</summary>
    public int Rank { get; init; } = 8;

    /// <summary>PEFT's <c>lora_alpha</c>: the update is scaled by <c>alpha / rank</c> (or <c>alpha / sqrt(rank)</c> with <see cref="UseRsLora"/>).</summary>
    public double Alpha { get; init; } = 16;

    /// <summary>Dropout on the adapter's input during training (PEFT's <c>lora_dropout</c>).</summary>
    public double Dropout { get; init; } = 0.05;

    /// <summary>Field names of the linear layers that get adapters (<c>q_proj</c>, <c>down_proj</c>; PEFT's <c>target_modules</c>).</summary>
    public IReadOnlyList<string> TargetModules { get; init; } = AllProjections;

    /// <summary>Rank-stabilised scaling <c>alpha / sqrt(rank)</c> (PEFT's <c>use_rslora</c>).</summary>
    public bool UseRsLora { get; init; }

    /// <summary>The factor on <c>B A x</c>.</summary>
    public double Scaling => UseRsLora ? Alpha / Math.Sqrt(Rank) : Alpha / Rank;

    /// <summary>Checks the values.</summary>
    /// <exception cref="ArgumentException">A value out of range, naming it.</exception>
    public void Validate()
    {
        if (Rank < 1 || Rank > 4096) throw new ArgumentException($"LoRA rank must be 1 to 4096, got {Rank}.");
        if (!double.IsFinite(Alpha) || Alpha <= 0) throw new ArgumentException($"LoRA alpha must be a positive finite number, got {Alpha}.");
        if (!(Dropout >= 0 && Dropout < 1)) throw new ArgumentException($"LoRA dropout must be in [0, 1), got {Dropout}.");
        if (TargetModules is null || TargetModules.Count == 0) throw new ArgumentException("LoRA needs at least one target module (q_proj, v_proj, ...).");
        foreach (var t in TargetModules)
            if (string.IsNullOrWhiteSpace(t) || t.Any(c => !(char.IsAsciiLetterOrDigit(c) || c == '_')))
                throw new ArgumentException($"LoRA target module '{t}' is not a layer name (letters, digits and '_', such as q_proj).");
    }
}
