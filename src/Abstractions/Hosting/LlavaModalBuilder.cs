using Microsoft.Extensions.DependencyInjection;

namespace LlavaModal.Abstractions.Hosting;

/// <summary>Returned by <c>AddLlavaModal</c>: adds decoder families, vision towers, layer kernels and modality plugins to the registration.</summary>
/// <param name="Services">The service collection being configured.</param>
public sealed record LlavaModalBuilder(IServiceCollection Services);
