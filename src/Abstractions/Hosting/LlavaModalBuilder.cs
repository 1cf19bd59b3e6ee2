using Microsoft.Extensions.DependencyInjection;

namespace LlavaModal.Abstractions.Hosting;

/// <summary>Returned by <c>AddLlavaModal</c>: adds decoder families, vision towers, layer kernels and modality plugins to the registration.</summary>
/// <param name="Services">The service collection being configured.</param>
public sealed record LlavaModalBuilder(IServiceCollection Services)
{
    /// <summary>
    /// The model's name when it was registered with <c>AddLlavaModal(name, ...)</c> (a keyed service), else null. Plugins added on
    /// a named builder are registered under that key and reach that model only.
    /// </summary>
    public string? Name { get; init; }
}
