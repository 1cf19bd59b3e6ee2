using LlavaModal.Encoders.Vision.LlavaNext;
using LlavaModal.Encoders.Vision.LlavaOnevision;

namespace LlavaModal.Tests.Encoders.Vision.LlavaOnevision;

public class AnyResMaxLayoutTests
{
    static AnyResSettings Settings()
    {
        var pinpoints = OnevisionReference.Index.GetProperty("config_summary").GetProperty("image_grid_pinpoints_hw").EnumerateArray()
            .Select(p => new GridPinpoint(p[0].GetInt32(), p[1].GetInt32())).ToList();
        return new AnyResSettings(pinpoints, 32, 4);
    }

    [Theory]
    [MemberData(nameof(OnevisionReference.Images), MemberType = typeof(OnevisionReference))]
    public void Tiles_unpadded_map_downscale_and_token_count_are_the_references(string key)
    {
        var expected = OnevisionReference.Preprocessing(key);
        var size = OnevisionReference.Index.GetProperty("images").GetProperty(key).GetProperty("size_wh");
        var layout = AnyResMaxLayout.Compute(size[0].GetInt32(), size[1].GetInt32(), Settings(), 9);

        Assert.Equal(OnevisionReference.Ints(expected.GetProperty("best_resolution_hw")), new[] { layout.Grid.Best.Height, layout.Grid.Best.Width });
        Assert.Equal(expected.GetProperty("num_tiles_incl_base").GetInt32(), layout.Grid.Tiles);
        Assert.Equal(OnevisionReference.Ints(expected.GetProperty("feature_grid_after_unpad_hw")), new[] { layout.Grid.KeptRows, layout.Grid.KeptCols });
        Assert.Equal(expected.GetProperty("downscale_ratio").GetDouble(), layout.Ratio);
        Assert.Equal(expected.GetProperty("downscaled").GetBoolean(), layout.Downscaled);
        Assert.Equal(OnevisionReference.Ints(expected.GetProperty("feature_grid_after_unpad_and_downscale_hw")), new[] { layout.Rows, layout.Cols });
        Assert.Equal(expected.GetProperty("newline_tokens").GetInt32(), layout.Rows);
        Assert.Equal(expected.GetProperty("num_image_tokens").GetInt32(), layout.TokenCount);
    }

    [Theory]
    // CPython's float // (through fmod), which floor(a / b) does not always equal.
    [InlineData(12.0, 1.1547005383792515, 10.0)]
    [InlineData(16.0, 1.3333333333333333, 12.0)]
    [InlineData(1.0, 0.1, 9.0)]
    [InlineData(-7.0, 2.0, -4.0)]
    [InlineData(7.0, -2.0, -4.0)]
    [InlineData(0.0, 3.0, 0.0)]
    public void Floor_division_is_pythons(double a, double b, double expected) =>
        Assert.Equal(expected, AnyResMaxLayout.FloorDivide(a, b));

    [Theory]
    // The README's counts, from the processor's own formula (LlavaOnevisionProcessor._get_number_of_features) run in Python:
    // the llava-onevision-qwen2 configs (384 px tiles, 27x27 tokens, pinpoints 384·(1..6)) and llava-onevision-tiny's.
    [InlineData(640, 480, 384, 27, 2929)]
    [InlineData(1920, 1080, 384, 27, 7269)]
    [InlineData(640, 480, 32, 4, 156)]
    [InlineData(1920, 1080, 32, 4, 186)]
    public void Photo_token_counts_of_the_readme(int width, int height, int tile, int side, int tokens)
    {
        int grid = tile == 384 ? 6 : 4;
        var pinpoints = (from h in Enumerable.Range(1, grid) from w in Enumerable.Range(1, grid) select new GridPinpoint(tile * h, tile * w)).ToList();
        Assert.Equal(tokens, AnyResMaxLayout.Compute(width, height, new AnyResSettings(pinpoints, tile, side), 9).TokenCount);
    }

    [Fact]
    public void A_larger_budget_keeps_the_full_map_and_a_smaller_one_shrinks_it_further()
    {
        var settings = Settings();
        var wide = AnyResMaxLayout.Compute(128, 128, settings, 16);
        Assert.False(wide.Downscaled);
        Assert.Equal(16 + 16 * 17, wide.TokenCount);
        var narrow = AnyResMaxLayout.Compute(128, 128, settings, 1);
        Assert.True(narrow.Downscaled);
        Assert.Equal((4, 4), (narrow.Rows, narrow.Cols));
    }
}
