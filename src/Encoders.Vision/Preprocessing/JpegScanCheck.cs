using System.Buffers.Binary;

namespace LlavaModal.Encoders.Vision.Preprocessing;

/// <summary>
/// Checks that the compressed data of a baseline (sequential Huffman) JPEG holds every block its frame declares. A file cut
/// inside its scan and closed with an end-of-image marker has a complete marker structure; libjpeg then fills the missing
/// blocks with grey and only warns ("premature end of data segment"), which Skia never reports, so the image would reach the
/// model with its lower part blank. The blocks are Huffman-decoded to count them (no IDCT: a small fraction of decoding).
/// Progressive and arithmetic-coded files are not checked here.
/// </summary>
static class JpegScanCheck
{
    sealed class Huffman
    {
        // Canonical decoding tables as in libjpeg's jdhuff.c: codes of each length and where their symbols start.
        public readonly int[] MaxCode = new int[18];
        public readonly int[] ValOffset = new int[17];
        public byte[] Symbols = [];
    }

    sealed record Component(int Id, int H, int V);

    /// <summary>Returns why the scan data is incomplete or undecodable, or <see langword="null"/> (also for files this check does not cover).</summary>
    public static string? Problem(ReadOnlySpan<byte> data)
    {
        var tables = new Huffman?[8]; // DC 0-3, AC 4-7
        List<Component>? components = null;
        int width = 0, height = 0, restartInterval = 0;
        int pos = 2;
        while (pos + 4 <= data.Length)
        {
            if (data[pos] != 0xFF) { pos++; continue; }
            byte marker = data[pos + 1];
            if (marker == 0xFF) { pos++; continue; }
            if (marker is 0x01 or >= 0xD0 and <= 0xD8) { pos += 2; continue; }
            if (marker == 0xD9) return null;
            int length = BinaryPrimitives.ReadUInt16BigEndian(data[(pos + 2)..]);
            if (length < 2 || pos + 2 + length > data.Length) return null; // the structural check reports these
            var segment = data.Slice(pos + 4, length - 2);
            switch (marker)
            {
                case 0xC0 or 0xC1:
                    if (segment.Length < 6) return null;
                    height = BinaryPrimitives.ReadUInt16BigEndian(segment[1..]);
                    width = BinaryPrimitives.ReadUInt16BigEndian(segment[3..]);
                    components = [];
                    for (int i = 0; i < segment[5] && 6 + i * 3 + 2 < segment.Length; i++)
                        components.Add(new Component(segment[6 + i * 3], segment[7 + i * 3] >> 4, segment[7 + i * 3] & 15));
                    if (components.Count == 0 || components.Any(c => c.H is < 1 or > 4 || c.V is < 1 or > 4)) return null;
                    break;
                case >= 0xC2 and <= 0xCF and not 0xC4 and not 0xC8 and not 0xCC:
                    return null; // progressive, lossless or arithmetic: not covered
                case 0xC4:
                    if (!ReadTables(segment, tables)) return "corrupt JPEG: a Huffman table (DHT) is malformed.";
                    break;
                case 0xDD:
                    if (segment.Length >= 2) restartInterval = BinaryPrimitives.ReadUInt16BigEndian(segment);
                    break;
                case 0xDA:
                    if (components is null || width == 0 || height == 0) return null;
                    int end = pos + 2 + length;
                    var problem = CheckScan(data, ref end, segment, components, tables, width, height, restartInterval);
                    if (problem is not null) return problem;
                    pos = end;
                    continue;
            }
            pos += 2 + length;
        }
        return null;
    }

    static bool ReadTables(ReadOnlySpan<byte> segment, Huffman?[] tables)
    {
        int p = 0;
        while (p + 17 <= segment.Length)
        {
            int kind = segment[p] >> 4, id = segment[p] & 15;
            if (kind > 1 || id > 3) return false;
            var counts = segment.Slice(p + 1, 16);
            int total = 0;
            foreach (var c in counts) total += c;
            if (p + 17 + total > segment.Length || total > 256) return false;
            var table = new Huffman { Symbols = segment.Slice(p + 17, total).ToArray() };
            int code = 0, k = 0;
            for (int bits = 1; bits <= 16; bits++)
            {
                table.ValOffset[bits] = k - code;
                code += counts[bits - 1];
                k += counts[bits - 1];
                table.MaxCode[bits] = counts[bits - 1] > 0 ? code - 1 : -1;
                code <<= 1;
            }
            table.MaxCode[17] = int.MaxValue;
            tables[kind * 4 + id] = table;
            p += 17 + total;
        }
        return p == segment.Length;
    }

    /// <summary>Entropy-coded bits with byte stuffing; a marker (or the end) yields no more bits.</summary>
    ref struct Bits(ReadOnlySpan<byte> data, int pos)
    {
        readonly ReadOnlySpan<byte> data = data;
        int value, count;

        public int Position = pos;
        public bool Exhausted;

        public int Bit()
        {
            if (count == 0)
            {
                if (Position >= data.Length || (data[Position] == 0xFF && (Position + 1 >= data.Length || data[Position + 1] != 0x00)))
                {
                    Exhausted = true;
                    return 0;
                }
                value = data[Position];
                Position += data[Position] == 0xFF ? 2 : 1;
                count = 8;
            }
            count--;
            return (value >> count) & 1;
        }

        public void Skip(int n)
        {
            for (int i = 0; i < n; i++) Bit();
        }

        /// <summary>Drops the rest of the byte and a restart marker, if one follows.</summary>
        public bool Restart()
        {
            count = 0;
            if (Position + 1 < data.Length && data[Position] == 0xFF && data[Position + 1] is >= 0xD0 and <= 0xD7)
            {
                Position += 2;
                Exhausted = false;
                return true;
            }
            return false;
        }
    }

    static int Decode(ref Bits bits, Huffman table)
    {
        int code = bits.Bit();
        int length = 1;
        while (code > table.MaxCode[length])
        {
            code = (code << 1) | bits.Bit();
            if (++length > 16) return -1;
        }
        int index = code + table.ValOffset[length];
        return index >= 0 && index < table.Symbols.Length ? table.Symbols[index] : -1;
    }

    static string? CheckScan(ReadOnlySpan<byte> data, ref int end, ReadOnlySpan<byte> header, List<Component> frame, Huffman?[] tables,
        int width, int height, int restartInterval)
    {
        if (header.Length < 1) return null;
        int count = header[0];
        if (header.Length < 1 + count * 2 + 3) return null;
        var scan = new List<(Component Component, Huffman Dc, Huffman Ac)>();
        for (int i = 0; i < count; i++)
        {
            int id = header[1 + i * 2];
            var component = frame.FirstOrDefault(c => c.Id == id);
            int dcId = header[2 + i * 2] >> 4, acId = header[2 + i * 2] & 15;
            if (component is null || dcId > 3 || acId > 3 || tables[dcId] is not { } dc || tables[4 + acId] is not { } ac) return null;
            scan.Add((component, dc, ac));
        }
        int hMax = frame.Max(c => c.H), vMax = frame.Max(c => c.V);
        long mcus;
        int[] blocksPerMcu;
        if (count == 1)
        {
            // A non-interleaved scan: one block per MCU over the component's own size.
            var c = scan[0].Component;
            long w = ((long)width * c.H + hMax - 1) / hMax, h = ((long)height * c.V + vMax - 1) / vMax;
            mcus = ((w + 7) / 8) * ((h + 7) / 8);
            blocksPerMcu = [1];
        }
        else
        {
            mcus = (long)((width + 8 * hMax - 1) / (8 * hMax)) * ((height + 8 * vMax - 1) / (8 * vMax));
            blocksPerMcu = [.. scan.Select(s => s.Component.H * s.Component.V)];
        }
        var bits = new Bits(data, end);
        for (long mcu = 0; mcu < mcus; mcu++)
        {
            if (restartInterval > 0 && mcu > 0 && mcu % restartInterval == 0 && !bits.Restart())
                return $"corrupt or truncated JPEG data: restart marker missing after {mcu} of {mcus} blocks of 8x8 pixels.";
            for (int s = 0; s < scan.Count; s++)
            {
                for (int b = 0; b < blocksPerMcu[s]; b++)
                {
                    int dc = Decode(ref bits, scan[s].Dc);
                    if (dc is < 0 or > 16) return Broken(bits, mcu, mcus);
                    bits.Skip(dc);
                    for (int k = 1; k < 64;)
                    {
                        int rs = Decode(ref bits, scan[s].Ac);
                        if (rs < 0) return Broken(bits, mcu, mcus);
                        int run = rs >> 4, size = rs & 15;
                        if (size == 0)
                        {
                            if (run != 15) break;
                            k += 16;
                            continue;
                        }
                        bits.Skip(size);
                        k += run + 1;
                    }
                    if (bits.Exhausted) return Broken(bits, mcu, mcus);
                }
            }
        }
        end = bits.Position;
        return null;
    }

    static string Broken(Bits bits, long mcu, long mcus) => bits.Exhausted
        ? $"truncated JPEG data: the compressed image ends after {mcu} of its {mcus} blocks (missing rows would come out grey)."
        : $"corrupt JPEG data: undecodable Huffman code in block {mcu} of {mcus}.";
}
