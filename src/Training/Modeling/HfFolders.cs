using System.Text.Json;
using LlavaModal.Abstractions.Configuration;
using LlavaModal.Abstractions.Decoding;
using LlavaModal.Abstractions.Vision;
using LlavaModal.Tokenizers.Chat;
using static TorchSharp.torch;

namespace LlavaModal.Training.Modeling;

/// <summary>Writes the non-weight files of Hugging Face folders (configs, tokenizer, image processor) the loaders read.</summary>
public static class HfFolders
{
    /// <summary>Files of the llava-hf tokenizer shipped with this library.</summary>
    public static readonly IReadOnlyList<string> TokenizerFiles = ["tokenizer.model", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json"];

    /// <summary>Token id of <c>&lt;image&gt;</c> in the shipped tokenizer.</summary>
    public const int ImageTokenId = 510;

    /// <summary>Token id of <c>&lt;pad&gt;</c> in the shipped tokenizer.</summary>
    public const int PadTokenId = 511;

    internal static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <summary>Writes the shipped LLaVA tokenizer (SentencePiece, 512 ids with <c>&lt;image&gt;</c> and <c>&lt;pad&gt;</c>) into <paramref name="directory"/>.</summary>
    public static void WriteTokenizer(string directory)
    {
        Directory.CreateDirectory(directory);
        foreach (var name in TokenizerFiles)
        {
            using var stream = TokenizerAsset(name);
            using var file = File.Create(Path.Combine(directory, name));
            stream.CopyTo(file);
        }
    }

    /// <summary>The text of one file of the shipped llava-hf tokenizer.</summary>
    internal static string ReadTokenizerAsset(string name)
    {
        using var reader = new StreamReader(TokenizerAsset(name));
        return reader.ReadToEnd();
    }

    static Stream TokenizerAsset(string name) => typeof(HfFolders).Assembly.GetManifestResourceStream($"llava-tokenizer/{name}")
        ?? throw new InvalidOperationException($"Embedded resource llava-tokenizer/{name} is missing from the build.");

    /// <summary>Copies a tokenizer folder's files (those of <see cref="TokenizerFiles"/> it has) into <paramref name="directory"/>.</summary>
    public static void CopyTokenizer(string source, string directory) => CopyExisting(source, directory, TokenizerFiles);

    /// <summary>Sets the system sentence of the folder's chat (<c>llavamodal_system_prompt</c> in <c>tokenizer_config.json</c>, read by <c>ChatTemplate.ForModel</c>).</summary>
    public static void SetSystemPrompt(string directory, string systemPrompt)
    {
        var path = Path.Combine(directory, "tokenizer_config.json");
        var node = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        node[ChatTemplate.SystemPromptKey] = systemPrompt;
        File.WriteAllText(path, node.ToJsonString(Indented));
    }

    /// <summary>Copies the tokenizer, image-processor and generation files that exist in <paramref name="source"/>.</summary>
    public static void CopySupportFiles(string source, string target) =>
        CopyExisting(source, target, [.. TokenizerFiles, "preprocessor_config.json", "generation_config.json"]);

    static void CopyExisting(string source, string target, IEnumerable<string> names)
    {
        Directory.CreateDirectory(target);
        foreach (var name in names)
        {
            var from = Path.Combine(source, name);
            if (File.Exists(from) && Path.GetFullPath(from) != Path.GetFullPath(Path.Combine(target, name)))
                File.Copy(from, Path.Combine(target, name), overwrite: true);
        }
    }

    /// <summary>A CLIP <c>preprocessor_config.json</c> for square images of <paramref name="size"/> pixels (CLIP mean and std, bicubic).</summary>
    public static void WritePreprocessorConfig(string directory, int size) =>
        WriteJson(Path.Combine(directory, "preprocessor_config.json"), new Dictionary<string, object>
        {
            ["crop_size"] = new { height = size, width = size },
            ["do_center_crop"] = true,
            ["do_convert_rgb"] = true,
            ["do_normalize"] = true,
            ["do_rescale"] = true,
            ["do_resize"] = true,
            ["image_mean"] = new[] { 0.48145466, 0.4578275, 0.40821073 },
            ["image_processor_type"] = "CLIPImageProcessor",
            ["image_std"] = new[] { 0.26862954, 0.26130258, 0.27577711 },
            ["processor_class"] = "LlavaProcessor",
            ["resample"] = 3,
            ["rescale_factor"] = 1 / 255.0,
            ["size"] = new { shortest_edge = size },
        });

    /// <summary><c>generation_config.json</c> with BOS 1, EOS 2 and <paramref name="padTokenId"/> (default: the shipped tokenizer's).</summary>
    public static void WriteGenerationConfig(string directory, int padTokenId = PadTokenId) =>
        WriteJson(Path.Combine(directory, "generation_config.json"), new { bos_token_id = 1, eos_token_id = 2, pad_token_id = padTokenId });

    /// <summary>
    /// The <c>config.json</c> object of a decoder (or a LLaVA <c>text_config</c> when not <paramref name="topLevel"/>), with
    /// the weights' dtype and, when the config has none, <paramref name="padTokenId"/>.
    /// </summary>
    public static Dictionary<string, object?> DecoderConfigJson(IDecoderConfig config, ScalarType dtype, int? padTokenId, bool topLevel = true)
    {
        ArgumentNullException.ThrowIfNull(config);
        var d = config.ToJsonObject();
        d["torch_dtype"] = DTypes.ConfigName(dtype);
        if (padTokenId is int pad && !d.ContainsKey("pad_token_id")) d["pad_token_id"] = pad;
        if (!topLevel) d.Remove("architectures");
        return d;
    }

    /// <summary>The <c>config.json</c> of a standalone vision tower folder (<c>CLIPVisionModel</c>), float32.</summary>
    public static Dictionary<string, object?> VisionTowerConfigJson(VisionTower tower, string architecture)
    {
        ArgumentNullException.ThrowIfNull(tower);
        var d = new Dictionary<string, object?> { ["architectures"] = new[] { architecture } };
        foreach (var (key, value) in tower.ToJsonObject()) d[key] = value;
        d["torch_dtype"] = "float32";
        return d;
    }

    internal static void WriteJson(string path, object value)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        File.WriteAllText(path, JsonSerializer.Serialize(value, Indented));
    }
}
