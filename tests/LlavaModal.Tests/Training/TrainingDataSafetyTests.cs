using LlavaModal.Tests.Support;
using LlavaModal.Tokenizers;
using LlavaModal.Training;
using LlavaModal.Training.Data;

namespace LlavaModal.Tests.Training;

/// <summary>
/// Issue 15, 6 and 7: an <c>"image"</c> path that is absolute or climbs with <c>..</c> was opened outside <c>--images</c>,
/// and the error revealed whether <c>/etc/passwd</c> exists; <c>--max-grad-norm NaN</c> was accepted.
/// </summary>
public class TrainingDataSafetyTests
{
    static readonly HfTokenizer Tokenizer = HfTokenizer.FromPretrained(Fixtures.LlavaTinyA);

    static LlavaSample Sample(string image) => new("s1", image, [new("human", "<image>\nWhat is it?"), new("gpt", "A thing.")]);

    static string Refusal(string image, string folder)
    {
        var e = Assert.Throws<InvalidDataException>(() => new ConversationEncoder(Tokenizer).Encode(Sample(image), folder));
        return e.Message.Replace(image, "<path>", StringComparison.Ordinal);
    }

    [Fact]
    public void Image_paths_leaving_the_image_folder_are_refused_without_saying_what_exists_outside()
    {
        using var dir = new TempDir();
        Directory.CreateDirectory(dir.File("images"));
        File.WriteAllText(dir.File("secret.png"), "outside");
        var existing = Refusal(dir.File("secret.png"), dir.File("images"));
        var missing = Refusal(dir.File("no-such.png"), dir.File("images"));
        Assert.Equal(existing, missing);
        Assert.Contains("--images", existing);
        Assert.Equal(Refusal("../secret.png", dir.File("images")), Refusal("../no-such.png", dir.File("images")));
        Assert.Equal(existing, Refusal("/etc/passwd", dir.File("images")));
        Assert.Throws<InvalidDataException>(() => new ConversationEncoder(Tokenizer).Encode(Sample("sub/../../x.png"), dir.File("images")));
        // Inside the folder is fine, also in subfolders.
        Assert.EndsWith(Path.Combine("images", "sub", "a.png"), new ConversationEncoder(Tokenizer).Encode(Sample("sub/a.png"), dir.File("images")).ImagePath);
    }

    [Theory]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    [InlineData(-1)]
    public void A_max_grad_norm_that_is_not_a_finite_non_negative_number_is_refused(double norm) =>
        Assert.Contains("max grad norm", Assert.Throws<ArgumentException>(() => new TrainOptions { MaxGradNorm = norm }.Validate()).Message);
}
