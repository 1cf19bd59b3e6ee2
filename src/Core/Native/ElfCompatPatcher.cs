using System.Buffers.Binary;
using System.Text;

namespace LlavaModal.Core.Native;

/// <summary>
/// Makes a copy of an ELF shared library loadable on a libstdc++ that lacks <c>GLIBCXX_3.4.32</c>
/// by editing three dynamic-table entries (no compiler or linker is available at run time, and
/// no library edits ELF version tables, so this is written by hand):
/// <list type="number">
/// <item>the <c>GLIBCXX_3.4.32</c> requirement in <c>.gnu.version_r</c> becomes weak;</item>
/// <item>the only symbol bound to it, <c>std::ios_base_library_init()</c>, is renamed in
/// <c>.dynstr</c> to <c>std::get_terminate()</c>, a harmless getter every libstdc++ exports
/// (GCC 12 runtimes initialise the standard streams by the older mechanism, so the call has
/// nothing to do);</item>
/// <item>that symbol's <c>.gnu.version</c> entry points at <c>GLIBCXX_3.4.20</c>, which defines
/// the getter (or at the unversioned index when the library does not require that version).</item>
/// </list>
/// </summary>
static class ElfCompatPatcher
{
    internal const string MissingVersion = "GLIBCXX_3.4.32";
    internal const string MissingSymbol = "_ZSt21ios_base_library_initv";
    internal const string ReplacementSymbol = "_ZSt13get_terminatev";
    internal const string ReplacementVersion = "GLIBCXX_3.4.20";

    const uint ShtDynsym = 11;
    const uint ShtGnuVerneed = 0x6ffffffe;
    const uint ShtGnuVersym = 0x6fffffff;
    const ushort VerFlgWeak = 0x2;
    const ushort VerNdxGlobal = 1;

    /// <summary>What <see cref="Patch"/> changed, for logging and tests.</summary>
    internal sealed record Result(bool Changed, int SymbolIndex, ushort OldVersionIndex, ushort NewVersionIndex);

    /// <summary>Patches <paramref name="image"/> in place. Returns <c>Changed = false</c> when the image does not need it.</summary>
    /// <exception cref="InvalidDataException">The image is not a 64-bit little-endian ELF file or its tables are inconsistent.</exception>
    internal static Result Patch(byte[] image)
    {
        var span = image.AsSpan();
        if (span.Length < 64 || span[0] != 0x7f || span[1] != (byte)'E' || span[2] != (byte)'L' || span[3] != (byte)'F')
            throw new InvalidDataException("Not an ELF file.");
        if (span[4] != 2 || span[5] != 1)
            throw new InvalidDataException("Only 64-bit little-endian ELF files are supported.");

        var sections = ReadSections(span);
        var verneed = sections.FirstOrDefault(s => s.Type == ShtGnuVerneed);
        var versym = sections.FirstOrDefault(s => s.Type == ShtGnuVersym);
        var dynsym = sections.FirstOrDefault(s => s.Type == ShtDynsym);
        if (verneed is null || versym is null || dynsym is null)
            return new Result(false, -1, 0, 0);
        var dynstr = sections[(int)dynsym.Link];

        // 1. Find the GLIBCXX_3.4.32 requirement (and the index of GLIBCXX_3.4.20, if required too).
        int auxOffsetMissing = -1;
        ushort missingIndex = 0, replacementIndex = VerNdxGlobal;
        long entry = (long)verneed.Offset;
        for (uint i = 0; i < verneed.Info; i++)
        {
            var count = Read16(span, entry + 2);
            long aux = entry + Read32(span, entry + 8);
            for (int j = 0; j < count; j++)
            {
                var name = ReadString(span, dynstr, Read32(span, aux + 8));
                var index = (ushort)(Read16(span, aux + 6) & 0x7fff);
                if (name == MissingVersion) { auxOffsetMissing = checked((int)aux); missingIndex = index; }
                else if (name == ReplacementVersion) replacementIndex = index;
                var next = Read32(span, aux + 12);
                if (next == 0) break;
                aux += next;
            }
            var nextEntry = Read32(span, entry + 12);
            if (nextEntry == 0) break;
            entry += nextEntry;
        }
        if (auxOffsetMissing < 0)
            return new Result(false, -1, 0, 0);

        // 2. Find the symbol bound to that version.
        int symbolCount = checked((int)(dynsym.Size / 24));
        int symbolIndex = -1;
        for (int i = 0; i < symbolCount; i++)
        {
            long sym = (long)dynsym.Offset + i * 24L;
            if (ReadString(span, dynstr, Read32(span, sym)) == MissingSymbol) { symbolIndex = i; break; }
        }

        var flags = Read16(span, auxOffsetMissing + 4);
        BinaryPrimitives.WriteUInt16LittleEndian(span[(auxOffsetMissing + 4)..], (ushort)(flags | VerFlgWeak));

        ushort oldIndex = 0;
        if (symbolIndex >= 0)
        {
            long sym = (long)dynsym.Offset + symbolIndex * 24L;
            long nameAt = (long)dynstr.Offset + Read32(span, sym);
            var replacement = Encoding.ASCII.GetBytes(ReplacementSymbol);
            span.Slice(checked((int)nameAt), MissingSymbol.Length).Clear();
            replacement.CopyTo(span[checked((int)nameAt)..]);

            long versymAt = (long)versym.Offset + symbolIndex * 2L;
            oldIndex = Read16(span, versymAt);
            if ((oldIndex & 0x7fff) != missingIndex)
                throw new InvalidDataException($"Symbol {MissingSymbol} is bound to version index {oldIndex}, expected {missingIndex} ({MissingVersion}).");
            BinaryPrimitives.WriteUInt16LittleEndian(span[checked((int)versymAt)..], replacementIndex);
        }
        return new Result(true, symbolIndex, oldIndex, replacementIndex);
    }

    sealed record Section(uint Type, ulong Offset, ulong Size, uint Link, uint Info);

    static List<Section> ReadSections(ReadOnlySpan<byte> span)
    {
        long shoff = (long)BinaryPrimitives.ReadUInt64LittleEndian(span[0x28..]);
        int shentsize = BinaryPrimitives.ReadUInt16LittleEndian(span[0x3A..]);
        int shnum = BinaryPrimitives.ReadUInt16LittleEndian(span[0x3C..]);
        if (shentsize != 64 || shoff <= 0 || shoff + (long)shnum * 64 > span.Length)
            throw new InvalidDataException("ELF section header table is out of range.");
        var list = new List<Section>(shnum);
        for (int i = 0; i < shnum; i++)
        {
            var h = span.Slice(checked((int)(shoff + i * 64L)), 64);
            var s = new Section(
                BinaryPrimitives.ReadUInt32LittleEndian(h[4..]),
                BinaryPrimitives.ReadUInt64LittleEndian(h[24..]),
                BinaryPrimitives.ReadUInt64LittleEndian(h[32..]),
                BinaryPrimitives.ReadUInt32LittleEndian(h[40..]),
                BinaryPrimitives.ReadUInt32LittleEndian(h[44..]));
            if (s.Type != 8 /* NOBITS */ && s.Offset + s.Size > (ulong)span.Length)
                throw new InvalidDataException($"ELF section {i} is out of range.");
            list.Add(s);
        }
        return list;
    }

    static ushort Read16(ReadOnlySpan<byte> span, long at) => BinaryPrimitives.ReadUInt16LittleEndian(span[checked((int)at)..]);
    static uint Read32(ReadOnlySpan<byte> span, long at) => BinaryPrimitives.ReadUInt32LittleEndian(span[checked((int)at)..]);

    static string ReadString(ReadOnlySpan<byte> span, Section strtab, uint offset)
    {
        if (offset >= strtab.Size) throw new InvalidDataException("ELF string offset is out of range.");
        var s = span.Slice(checked((int)(strtab.Offset + offset)), checked((int)(strtab.Size - offset)));
        var end = s.IndexOf((byte)0);
        return Encoding.ASCII.GetString(end < 0 ? s : s[..end]);
    }
}
