using LlavaModal.Encoders.Vision.LlavaNext;

namespace LlavaModal.Tests.Encoders.Vision.LlavaNext;

public class AnyResLayoutTests
{
    static (int Width, int Height) SizeOf(string key)
    {
        var wh = LlavaNextReference.Ints(LlavaNextReference.Index.GetProperty("images").GetProperty(key).GetProperty("size_wh"));
        return (wh[0], wh[1]);
    }

    [Theory]
    [MemberData(nameof(LlavaNextReference.Images), MemberType = typeof(LlavaNextReference))]
    public void Best_resolution_tiles_unpadding_and_token_count_match_the_reference(string key)
    {
        var (width, height) = SizeOf(key);
        var layout = LlavaNextReference.Processor().Settings.Layout(width, height);
        var expected = LlavaNextReference.Preprocessing(key);
        int[] Pair(string name) => LlavaNextReference.Ints(expected.GetProperty(name));

        Assert.Equal(Pair("best_resolution_hw"), new[] { layout.Best.Height, layout.Best.Width });
        Assert.Equal(Pair("resized_before_pad_hw"), new[] { layout.ResizedHeight, layout.ResizedWidth });
        Assert.Equal(Pair("paste_offset_yx"), new[] { layout.PadTop, layout.PadLeft });
        Assert.Equal(Pair("canvas_hw"), new[] { layout.CanvasHeight, layout.CanvasWidth });
        Assert.Equal(Pair("grid_tiles_hw"), new[] { layout.TileRows, layout.TileCols });
        Assert.Equal(expected.GetProperty("num_tiles_incl_base").GetInt32(), layout.Tiles);
        Assert.Equal(Pair("feature_grid_before_unpad_hw"), new[] { layout.FeatureRows, layout.FeatureCols });
        Assert.Equal(Pair("feature_grid_after_unpad_and_downscale_hw"), new[] { layout.KeptRows, layout.KeptCols });
        Assert.Equal(expected.GetProperty("base_tokens").GetInt32(), layout.BaseTokens);
        Assert.Equal(expected.GetProperty("newline_tokens").GetInt32(), layout.KeptRows);
        Assert.Equal(expected.GetProperty("num_image_tokens").GetInt32(), layout.TokenCount);
    }

    [Fact]
    public void Every_case_counts_the_tokens_the_reference_processor_expanded()
    {
        var processor = LlavaNextReference.Processor();
        foreach (var c in LlavaNextReference.Index.GetProperty("cases").GetProperty("single").EnumerateObject())
        {
            var images = c.Value.GetProperty("images").EnumerateArray().Select(i => i.GetString()!).ToList();
            var counts = LlavaNextReference.Ints(c.Value.GetProperty("image_token_counts"));
            Assert.Equal(counts, images.Select(k => { var (w, h) = SizeOf(k); return processor.Settings.Layout(w, h).TokenCount; }));
        }
    }

    [Fact]
    public void Ties_in_kept_pixels_go_to_the_least_waste_then_to_the_first_pinpoint()
    {
        // A 10x10 image fits every pinpoint whole: the least area wins; between equal areas the first listed.
        Assert.Equal(new GridPinpoint(64, 64), AnyResLayout.SelectBestResolution(10, 10, [new(64, 96), new(64, 64), new(96, 64)]));
        Assert.Equal(new GridPinpoint(32, 64), AnyResLayout.SelectBestResolution(10, 10, [new(32, 64), new(64, 32)]));
        Assert.Equal(new GridPinpoint(64, 32), AnyResLayout.SelectBestResolution(10, 10, [new(64, 32), new(32, 64)]));
    }

    [Fact]
    public void Pinpoints_must_be_whole_tiles()
    {
        var e = Assert.Throws<ArgumentException>(() => new AnyResSettings([new(336, 500)], 336, 24));
        Assert.Contains("[336, 500]", e.Message);
        Assert.Throws<ArgumentException>(() => new AnyResSettings([], 336, 24));
    }

    [Theory]
    [InlineData(640, 480)]
    [InlineData(1920, 1080)]
    [InlineData(480, 640)]
    [InlineData(3000, 200)]
    [InlineData(1, 1)]
    public void The_layout_of_llava_v16_pinpoints_is_consistent(int width, int height)
    {
        var layout = new AnyResSettings(GridPinpoint.LlavaV16, 336, 24).Layout(width, height);
        Assert.Contains(layout.Best, GridPinpoint.LlavaV16);
        Assert.InRange(layout.CanvasWidth, layout.Best.Width - 1, layout.Best.Width);
        Assert.InRange(layout.CanvasHeight, layout.Best.Height - 1, layout.Best.Height);
        Assert.True(layout.ResizedWidth == layout.Best.Width || layout.ResizedHeight == layout.Best.Height, "the image touches two sides of the pinpoint");
        Assert.Equal(layout.Best.Height / 336 * 24, layout.FeatureRows);
        Assert.Equal(576 + layout.KeptRows * (layout.KeptCols + 1), layout.TokenCount);
    }
}
