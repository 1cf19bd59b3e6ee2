using System.Globalization;
using LlavaModal.Abstractions.Configuration;
using LlavaModal.Core.Kernels;
using LlavaModal.Decoder.Generation;
using LlavaModal.Tokenizers.Chat;
using Microsoft.Extensions.Options;

namespace LlavaModal.Multimodal.DependencyInjection;

/// <summary>
/// Checks one named <see cref="LlavaModalOptions"/> when it is first built (and at host start with <c>ValidateOnStart</c>),
/// so a typo in <c>appsettings.json</c> stops the host with the key's full path instead of failing the first request.
/// </summary>
/// <param name="name">The options name this validator is for (<see cref="Options.DefaultName"/> for the default model).</param>
/// <param name="keyPrefix">How keys are named in messages: the configuration section's path (<c>LlavaModal</c>), or <c>LlavaModalOptions</c> when configured in code.</param>
sealed class LlavaModalOptionsValidator(string name, string keyPrefix) : IValidateOptions<LlavaModalOptions>
{
    public ValidateOptionsResult Validate(string? optionsName, LlavaModalOptions options)
    {
        if ((optionsName ?? Options.DefaultName) != name) return ValidateOptionsResult.Skip;
        var errors = new List<string>();
        string Key(string property) => $"{keyPrefix}:{property}";

        if (string.IsNullOrWhiteSpace(options.ModelDirectory))
            errors.Add($"{Key(nameof(options.ModelDirectory))} is not set: name the Hugging Face model folder to load.");
        // The folder's contents are the loader's to judge (its CheckpointException names the file); load at start-up
        // (LoadEagerly, LoadLlavaModelAsync) to find those problems before the first request.
        if (options.DType is { } dtype && DTypes.TryParse(dtype) is null)
            errors.Add($"{Key(nameof(options.DType))}: '{dtype}' is not one of {DTypes.Accepted}.");
        if (!IsDevice(options.Device))
            errors.Add($"{Key(nameof(options.Device))}: '{options.Device}' is not a device (cpu, cuda or cuda:N).");
        if (options.ChatTemplate is { } template)
        {
            try { ChatTemplate.Named(template); }
            catch (ArgumentException) { errors.Add($"{Key(nameof(options.ChatTemplate))}: '{template}' is not a chat template (vicuna_v1, llama2, llama3, chatml; unset: the checkpoint's own)."); }
        }
        if (string.IsNullOrWhiteSpace(options.Attention))
            errors.Add($"{Key(nameof(options.Attention))} is empty (eager, sdpa, or a kernel added with AddAttentionKernel).");
        if (string.IsNullOrWhiteSpace(options.Linear))
            errors.Add($"{Key(nameof(options.Linear))} is empty (torch, or a factory added with AddLinearFactory).");
        if (options.Weights is { } weights && WeightFormats.Parse(weights) is null)
            errors.Add($"{Key(nameof(options.Weights))}: '{weights}' is not a weight format (f32, bf16, f16, int8, int4; unset: torch layers).");
        if (options.KvCache is { } kvCache && DTypes.TryParse(kvCache) is null)
            errors.Add($"{Key(nameof(options.KvCache))}: '{kvCache}' is not one of {DTypes.Accepted} (unset: the model's dtype).");
        if (options.Adapter is { } adapter && !File.Exists(Path.Combine(adapter, "adapter_config.json")))
            errors.Add($"{Key(nameof(options.Adapter))}: '{adapter}' is not a LoRA adapter folder (no adapter_config.json).");
        if (options.MaxBatch < 1)
            errors.Add($"{Key(nameof(options.MaxBatch))}: {options.MaxBatch} is below 1.");
        if (options.MaxContextTokens is < 1)
            errors.Add($"{Key(nameof(options.MaxContextTokens))}: {options.MaxContextTokens} is below 1 (unset: the model's context).");
        if (options.PrefillChunkTokens is < 1)
            errors.Add($"{Key(nameof(options.PrefillChunkTokens))}: {options.PrefillChunkTokens} is below 1 (unset: {GenerationEngine.DefaultPrefillChunkTokens}).");
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    static bool IsDevice(string? device) =>
        device is not null && (device.Equals("cpu", StringComparison.OrdinalIgnoreCase) || device.Equals("cuda", StringComparison.OrdinalIgnoreCase)
            || (device.StartsWith("cuda:", StringComparison.OrdinalIgnoreCase) && int.TryParse(device.AsSpan(5), NumberStyles.None, CultureInfo.InvariantCulture, out _)));
}
