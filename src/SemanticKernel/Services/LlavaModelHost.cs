using LlavaModal.Multimodal;

namespace LlavaModal.SemanticKernel.Services;

/// <summary>
/// Hands out the shared model, loading it on first need. A failed load is not cached, so the loader's error is
/// reported on every attempt instead of a stale wrapped one.
/// </summary>
sealed class LlavaModelHost(Func<MultimodalModel> load, string? modelId)
{
    readonly Lock gate = new();
    MultimodalModel? model;

    public LlavaModelHost(MultimodalModel model) : this(() => model, model.ModelId) => this.model = model;

    /// <summary>The model id, known from the folder name before the model is loaded.</summary>
    public string ModelId => model?.ModelId ?? modelId ?? "llava";

    public bool IsLoaded => model is not null;

    public MultimodalModel Model
    {
        get
        {
            if (model is { } m) return m;
            lock (gate) return model ??= load();
        }
    }

    /// <summary>The model, loaded on a thread-pool thread if it is not yet (a request arriving meanwhile waits for the same load).</summary>
    public Task<MultimodalModel> LoadAsync(CancellationToken cancellation) =>
        model is { } m ? Task.FromResult(m) : Task.Run(() => Model, cancellation);
}
