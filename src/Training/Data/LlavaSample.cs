using System.Text.Json;
using System.Text.Json.Serialization;
using LlavaModal.Abstractions.IO;

namespace LlavaModal.Training.Data;

/// <summary>One turn of a LLaVA conversation: <c>from</c> is <c>human</c> or <c>gpt</c>.</summary>
/// <param name="From"><c>human</c> (the user) or <c>gpt</c> (the assistant).</param>
/// <param name="Value">The text; the first human turn of a sample with an image holds the <c>&lt;image&gt;</c> placeholder.</param>
public sealed record LlavaTurn(
    [property: JsonPropertyName("from")] string From,
    [property: JsonPropertyName("value")] string Value);

/// <summary>One non-image input of a sample: <c>{ "modality": "audio", "file": "clip-0001.wav" }</c>.</summary>
/// <param name="Modality">The plugin's modality name (<c>audio</c>, or a custom plugin's); its placeholder (<c>&lt;audio&gt;</c>) stands in the text once per input.</param>
/// <param name="File">File path relative to the media folder (<c>--images</c>).</param>
public sealed record LlavaMedia(
    [property: JsonPropertyName("modality")] string Modality,
    [property: JsonPropertyName("file")] string File);

/// <summary>
/// One training sample in LLaVA's JSON format, <c>{ "id", "image", "conversations": [...] }</c>, extended with an optional
/// <c>media</c> list of other modalities' inputs (<c>[{ "modality": "audio", "file": "a.wav" }]</c>), matched in order to
/// that modality's placeholders (<c>&lt;audio&gt;</c>) in the text.
/// </summary>
/// <param name="Id">Sample id.</param>
/// <param name="Image">Image file name relative to the image folder, or null for a sample without an image.</param>
/// <param name="Conversations">Alternating human / gpt turns, human first.</param>
/// <param name="Media">Inputs of other modalities, or null.</param>
public sealed record LlavaSample(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("image"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Image,
    [property: JsonPropertyName("conversations")] IReadOnlyList<LlavaTurn> Conversations,
    [property: JsonPropertyName("media"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] IReadOnlyList<LlavaMedia>? Media = null);

/// <summary>Reads and writes LLaVA JSON data files (a list of samples).</summary>
public static class LlavaDataFile
{
    /// <summary>The placeholder LLaVA puts in the text where the image goes.</summary>
    public const string ImagePlaceholder = "<image>";

    static readonly JsonSerializerOptions Options = new()
    {
        WriteIndented = true,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    /// <summary>Reads a data file, checking every sample's shape (ids, roles alternating from human, placeholders only with an image).</summary>
    /// <exception cref="InvalidDataException">A malformed sample, naming its index and id.</exception>
    public static IReadOnlyList<LlavaSample> Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: data file not found.", path);
        List<LlavaSample>? samples;
        // A regular file only: a FIFO named like the data would block forever.
        using var stream = InputFiles.OpenRead(path, long.MaxValue, "", message => new InvalidDataException($"{path}: {message}"));
        try { samples = JsonSerializer.Deserialize<List<LlavaSample>>(stream, Options); }
        catch (JsonException e) { throw new InvalidDataException($"{path}: not a LLaVA data file (a JSON list of {{id, image, conversations}}): {e.Message}", e); }
        if (samples is null) throw new InvalidDataException($"{path}: the file holds null, expected a list of samples.");
        for (int i = 0; i < samples.Count; i++) Validate(samples[i], $"{path}: sample {i}");
        return samples;
    }

    /// <summary>Writes samples as a LLaVA data file.</summary>
    public static void Save(string path, IEnumerable<LlavaSample> samples)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(dir);
        File.WriteAllText(path, JsonSerializer.Serialize(samples.ToList(), Options));
    }

    /// <summary>The placeholder a modality's plugin uses by convention (<c>&lt;audio&gt;</c>); the model's own placeholders are checked again when samples are encoded.</summary>
    public static string PlaceholderOf(string modality) => $"<{modality}>";

    /// <summary>Checks one sample; <paramref name="where"/> prefixes the error.</summary>
    /// <exception cref="InvalidDataException">The sample is malformed.</exception>
    public static void Validate(LlavaSample? sample, string where) => Validate(sample, where, PlaceholderOf);

    /// <summary>Checks one sample with the model's placeholder of each modality; <paramref name="where"/> prefixes the error.</summary>
    /// <exception cref="InvalidDataException">The sample is malformed.</exception>
    public static void Validate(LlavaSample? sample, string where, Func<string, string> placeholderOf)
    {
        ArgumentNullException.ThrowIfNull(placeholderOf);
        if (sample is null) throw new InvalidDataException($"{where} is null.");
        where = $"{where} (id '{sample.Id}')";
        if (sample.Conversations is null || sample.Conversations.Count == 0) throw new InvalidDataException($"{where}: no conversations.");
        for (int t = 0; t < sample.Conversations.Count; t++)
        {
            var turn = sample.Conversations[t];
            var expected = t % 2 == 0 ? "human" : "gpt";
            if (turn?.From != expected)
                throw new InvalidDataException($"{where}: turn {t} is from '{turn?.From}', expected '{expected}' (turns alternate, human first).");
            if (turn.Value is null) throw new InvalidDataException($"{where}: turn {t} has no value.");
        }
        int placeholders = sample.Conversations.Sum(c => Count(c.Value, ImagePlaceholder));
        if (sample.Image is null && placeholders > 0)
            throw new InvalidDataException($"{where}: {placeholders} {ImagePlaceholder} placeholder(s) but no image.");
        if (sample.Image is not null && placeholders > 1)
            throw new InvalidDataException($"{where}: {placeholders} {ImagePlaceholder} placeholders for one image.");
        if (sample.Media is null) return;
        for (int m = 0; m < sample.Media.Count; m++)
        {
            var media = sample.Media[m];
            if (media is null || string.IsNullOrWhiteSpace(media.Modality) || string.IsNullOrEmpty(media.File))
                throw new InvalidDataException($"{where}: media {m} needs a \"modality\" and a \"file\".");
            if (media.Modality == "image")
                throw new InvalidDataException($"{where}: media {m} is an image; a sample's image goes in LLaVA's \"image\" key.");
        }
        foreach (var group in sample.Media.GroupBy(m => m.Modality, StringComparer.Ordinal))
        {
            var placeholder = placeholderOf(group.Key);
            int found = sample.Conversations.Sum(c => Count(c.Value, placeholder));
            if (found != group.Count())
                throw new InvalidDataException($"{where}: {group.Count()} {group.Key} input(s) in \"media\" but {found} {placeholder} placeholder(s) in the text (one per input, in order).");
        }
    }

    static int Count(string text, string value)
    {
        int n = 0;
        for (int i = text.IndexOf(value, StringComparison.Ordinal); i >= 0; i = text.IndexOf(value, i + value.Length, StringComparison.Ordinal)) n++;
        return n;
    }
}
