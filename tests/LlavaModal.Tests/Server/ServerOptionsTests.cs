using LlavaModal.Server;

namespace LlavaModal.Tests.Server;

/// <summary>The server's options refuse out-of-range values before anything loads, naming the option the user set.</summary>
public class ServerOptionsTests
{
    static ServerOptions Valid() => new() { ModelDirectory = "models/any" };

    [Fact]
    public void Defaults_with_a_model_folder_are_valid() => Valid().Validate();

    [Theory]
    [InlineData("port", "--port 70000 is not a TCP port")]
    [InlineData("request", "--max-request-bytes 10 is below 1024")]
    [InlineData("media", "--max-media -1 must be 0 or more")]
    [InlineData("context", "--max-context-tokens 0 must be 1 or more")]
    [InlineData("prefill", "--prefill-chunk-tokens 0 must be 1 or more")]
    [InlineData("batch", "--max-batch 0 must be 1 or more")]
    [InlineData("key", "--api-key must not be empty")]
    public void A_value_out_of_range_is_refused_by_its_option_name(string what, string message)
    {
        var options = Valid();
        switch (what)
        {
            case "port": options.Port = 70000; break;
            case "request": options.MaxRequestBytes = 10; break;
            case "media": options.MaxMediaPerRequest = -1; break;
            case "context": options.MaxContextTokens = 0; break;
            case "prefill": options.PrefillChunkTokens = 0; break;
            case "batch": options.MaxBatch = 0; break;
            case "key": options.ApiKey = ""; break;
        }
        var e = Assert.Throws<ArgumentException>(options.Validate);
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void A_missing_model_folder_is_refused() =>
        Assert.Contains("ModelDirectory (--model) is required", Assert.Throws<ArgumentException>(new ServerOptions().Validate).Message);
}
