using LlavaModal.Core.Checkpoints;
using LlavaModal.Encoders.Vision.Preprocessing;
using LlavaModal.Tests.Support;
using static TorchSharp.torch;

namespace LlavaModal.Tests.Encoders.Vision.LlavaNext;

public sealed class LlavaNextPreprocessFixture : IDisposable
{
    public SafeTensorsFile Preprocess { get; } = LlavaNextReference.Open("preprocess.safetensors");

    public void Dispose() => Preprocess.Dispose();
}

public class LlavaNextProcessorParityTests(LlavaNextPreprocessFixture fx) : IClassFixture<LlavaNextPreprocessFixture>
{
    static byte[] Bytes(Tensor t)
    {
        using (t) return t.data<byte>().ToArray();
    }

    [Theory]
    [MemberData(nameof(LlavaNextReference.Images), MemberType = typeof(LlavaNextReference))]
    public void Canvas_tiles_and_pixel_values_are_the_references_exactly(string key)
    {
        var image = new ImageLoader().LoadFile(LlavaNextReference.ImagePath(key));
        var processed = LlavaNextReference.Processor().Preprocess(image);

        Assert.Equal(Parity.Ids(fx.Preprocess.Read($"{key}.image_sizes")), new long[] { image.Height, image.Width });
        var canvas = fx.Preprocess.Tensors[$"{key}.canvas_u8"].Shape;
        Assert.Equal(new long[] { processed.Canvas.Height, processed.Canvas.Width, 3 }, canvas);
        Assert.Equal(Bytes(fx.Preprocess.Read($"{key}.canvas_u8")), processed.Canvas.Pixels);

        var tiles = fx.Preprocess.Tensors[$"{key}.tiles_u8"].Shape;
        Assert.Equal(tiles[0], processed.Tiles.Count);
        Assert.Equal(Bytes(fx.Preprocess.Read($"{key}.tiles_u8")), processed.Tiles.SelectMany(t => t.Pixels).ToArray());

        using var expected = fx.Preprocess.Read($"{key}.pixel_values");
        using var ours = processed.ToTensor().unsqueeze(0);
        Assert.Equal(expected.shape, ours.shape);
        Assert.True(ours.equal(expected).all().item<bool>(), $"{key}: pixel values differ from the reference (max |diff| {(ours - expected).abs().max().item<float>()})");
    }

    [Fact]
    public void A_canvas_one_pixel_short_gives_a_narrower_edge_tile_that_the_crop_pads()
    {
        var expected = LlavaNextReference.Preprocessing("tiny").GetProperty("tiles_smaller_than_tile_size");
        Assert.Equal(1, expected.GetArrayLength());
        var image = new ImageLoader().LoadFile(LlavaNextReference.ImagePath("tiny"));
        var processed = LlavaNextReference.Processor().Preprocess(image);
        Assert.Equal(LlavaNextReference.Ints(expected[0][1]), new[] { processed.Canvas.Height, processed.Canvas.Width - 32 });
        Assert.All(processed.Tiles, t => Assert.Equal((32, 32), (t.Width, t.Height)));
    }
}
