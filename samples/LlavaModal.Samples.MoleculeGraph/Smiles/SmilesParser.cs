using System.Text;
using LlavaModal.Samples.MoleculeGraph.Chemistry;

namespace LlavaModal.Samples.MoleculeGraph.Smiles;

/// <summary>
/// Reads the sample's SMILES subset (hand-written: the grammar is a screenful, and no .NET chemistry library is served
/// here): the atoms <c>C N O S F Cl Br I</c> written bare (hydrogens implicit), bonds <c>-</c> (or none: single),
/// <c>=</c>, <c>#</c>, branches <c>( )</c>, ring closures <c>1</c>-<c>9</c> and <c>%10</c>-<c>%99</c> (a bond symbol
/// may stand before either end of a closure; if both ends have one they must agree). Refused, each by a
/// <see cref="InvalidSmilesException"/> naming the character: bracket atoms (<c>[NH4+]</c>), aromatic lower-case atoms
/// (<c>c1ccccc1</c>: write the Kekulé form <c>C1=CC=CC=C1</c>), other elements, <c>.</c> (one input is one molecule),
/// stereo and aromatic bonds (<c>/ \ :</c>), unmatched parentheses, empty branches, unclosed rings, a bond with no atom
/// after it, a ring closing onto its own atom or onto an existing bond, and atoms with more bonds than their valence
/// (C 4, N 3, O 2, S 6, halogens 1). Input is bounded: at most <see cref="MaxLength"/> characters and <see cref="MaxAtoms"/> atoms.
/// A <c>.smi</c>-style line is accepted: the first whitespace ends the SMILES and a name may follow; one molecule per input.
/// </summary>
public static class SmilesParser
{
    /// <summary>Longest SMILES accepted, in characters.</summary>
    public const int MaxLength = 256;

    /// <summary>Most atoms accepted.</summary>
    public const int MaxAtoms = 64;

    /// <summary>Parses UTF-8 bytes (a file's contents).</summary>
    /// <exception cref="InvalidSmilesException">The bytes are not UTF-8 text or not an accepted SMILES.</exception>
    public static Molecule Parse(ReadOnlySpan<byte> utf8, string source)
    {
        if (utf8.Length > 4 * (MaxLength + 1024)) throw new InvalidSmilesException(source, null, $"the input is {utf8.Length} bytes; a SMILES here is at most {MaxLength} characters.");
        string text;
        try { text = new UTF8Encoding(false, true).GetString(utf8); }
        catch (DecoderFallbackException) { throw new InvalidSmilesException(source, null, "the input is not UTF-8 text."); }
        return Parse(text, source);
    }

    /// <summary>Parses one SMILES (optionally followed by whitespace and a name, as in a <c>.smi</c> file's line).</summary>
    /// <exception cref="InvalidSmilesException">Not an accepted SMILES.</exception>
    public static Molecule Parse(string text, string source = "SMILES")
    {
        ArgumentNullException.ThrowIfNull(text);
        var lines = text.Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0).ToList();
        if (lines.Count == 0) throw new InvalidSmilesException(source, null, "the input is empty.");
        if (lines.Count > 1) throw new InvalidSmilesException(source, null, $"the input holds {lines.Count} lines; one input is one molecule.");
        var line = lines[0];
        int end = 0;
        while (end < line.Length && !char.IsWhiteSpace(line[end])) end++;
        var smiles = line[..end];
        if (smiles.Length > MaxLength) throw new InvalidSmilesException(source, null, $"the SMILES is {smiles.Length} characters; at most {MaxLength} are accepted.");
        return new Reader(smiles, source).Read();
    }

    sealed class Reader(string s, string source)
    {
        readonly List<Element> atoms = [];
        readonly List<int> atomPositions = [];
        readonly List<Bond> bonds = [];
        readonly Dictionary<int, (int Atom, int? Order, int Position)> rings = [];
        readonly Stack<(int Atom, int Position)> branches = new();
        int previous = -1;
        (int Order, int Position)? pending;
        int i;

        InvalidSmilesException Error(int index, string problem) => new(source, index + 1, problem);

        public Molecule Read()
        {
            while (i < s.Length)
            {
                char c = s[i];
                if (c is 'C' or 'N' or 'O' or 'S' or 'F' or 'I' or 'B') AddAtom();
                else if (c is '-' or '=' or '#') SetBond(c == '-' ? 1 : c == '=' ? 2 : 3);
                else if (char.IsAsciiDigit(c) || c == '%') RingClosure();
                else if (c == '(') OpenBranch();
                else if (c == ')') CloseBranch();
                else throw Error(i, Unsupported(c));
            }
            if (atoms.Count == 0) throw new InvalidSmilesException(source, null, "no atoms.");
            if (pending is { } p) throw Error(p.Position, "the SMILES ends with a bond that has no atom after it.");
            if (branches.Count > 0) throw Error(branches.Peek().Position, "this '(' is never closed.");
            if (rings.Count > 0)
            {
                var open = rings.OrderBy(r => r.Value.Position).First();
                throw Error(open.Value.Position, $"ring closure {Label(open.Key)} is opened here and never closed.");
            }
            return new Molecule(atoms, bonds);
        }

        static string Label(int ring) => ring < 10 ? ring.ToString(System.Globalization.CultureInfo.InvariantCulture) : $"%{ring}";

        static string Unsupported(char c) => c switch
        {
            '[' => "bracket atoms ('[...]') are not supported; write atoms bare (C, N, O, S, F, Cl, Br, I) with implicit hydrogens.",
            'c' or 'n' or 'o' or 's' or 'p' or 'b' => $"aromatic atom '{c}' is not supported; write the Kekulé form with '=' bonds (C1=CC=CC=C1).",
            '.' => "'.' (a disconnected structure) is not supported: one input is one molecule.",
            '/' or '\\' => $"stereo bond '{c}' is not supported.",
            ':' or '$' => $"bond '{c}' is not supported; bonds are '-', '=' and '#'.",
            'P' => "phosphorus is not in the accepted elements (C, N, O, S, F, Cl, Br, I).",
            _ when char.IsAsciiLetter(c) => $"'{c}' is not an accepted element (C, N, O, S, F, Cl, Br, I).",
            _ when char.IsWhiteSpace(c) => "whitespace inside the SMILES.",
            _ => $"unexpected character '{(char.IsControl(c) ? $"\\u{(int)c:x4}" : c.ToString())}'.",
        };

        void AddAtom()
        {
            int at = i;
            Element e;
            if (s[i] == 'C' && i + 1 < s.Length && s[i + 1] == 'l') { e = Element.Cl; i += 2; }
            else if (s[i] == 'B' && i + 1 < s.Length && s[i + 1] == 'r') { e = Element.Br; i += 2; }
            else if (s[i] == 'B') throw Error(i, "boron is not in the accepted elements (C, N, O, S, F, Cl, Br, I).");
            else { e = Enum.Parse<Element>(s[i].ToString()); i++; }
            if (atoms.Count == MaxAtoms) throw Error(at, $"more than {MaxAtoms} atoms.");
            atoms.Add(e);
            atomPositions.Add(at);
            int index = atoms.Count - 1;
            if (previous >= 0) AddBond(previous, index, pending?.Order ?? 1, pending?.Position ?? at);
            else if (pending is { } p) throw Error(p.Position, "a bond with no atom before it.");
            pending = null;
            previous = index;
        }

        void SetBond(int order)
        {
            if (previous < 0) throw Error(i, "a bond with no atom before it.");
            if (pending is not null) throw Error(i, "two bond symbols in a row.");
            pending = (order, i);
            i++;
        }

        void RingClosure()
        {
            int at = i;
            int label;
            if (s[i] == '%')
            {
                if (i + 2 >= s.Length || !char.IsAsciiDigit(s[i + 1]) || !char.IsAsciiDigit(s[i + 2])) throw Error(i, "'%' must be followed by two digits (a ring closure %10-%99).");
                label = (s[i + 1] - '0') * 10 + (s[i + 2] - '0');
                i += 3;
            }
            else
            {
                label = s[i] - '0';
                i++;
            }
            if (previous < 0) throw Error(at, $"ring closure {Label(label)} has no atom before it.");
            if (label == 0) throw Error(at, "ring closure 0 is not used; use 1-9 or %10-%99.");
            if (rings.Remove(label, out var open))
            {
                int? closeOrder = pending?.Order;
                if (open.Order is int o && closeOrder is int c && o != c)
                    throw Error(at, $"ring closure {Label(label)} has a different bond at each end (characters {open.Position + 1} and {at + 1}).");
                if (open.Atom == previous) throw Error(at, $"ring closure {Label(label)} would bond an atom to itself.");
                if (Exists(open.Atom, previous)) throw Error(at, $"ring closure {Label(label)} would bond atoms {open.Atom + 1} and {previous + 1} twice.");
                AddBond(open.Atom, previous, closeOrder ?? open.Order ?? 1, at);
            }
            else
            {
                rings[label] = (previous, pending?.Order, at);
            }
            pending = null;
        }

        void OpenBranch()
        {
            if (previous < 0) throw Error(i, "a branch with no atom before it.");
            if (pending is not null) throw Error(i, "a bond symbol before '('; put it inside the branch: C(=O).");
            branches.Push((previous, i));
            i++;
        }

        void CloseBranch()
        {
            if (branches.Count == 0) throw Error(i, "')' without a matching '('.");
            if (pending is not null) throw Error(i, "a bond with no atom after it at the end of a branch.");
            if (s[i - 1] == '(') throw Error(i - 1, "an empty branch '()'.");
            previous = branches.Pop().Atom;
            i++;
        }

        bool Exists(int a, int b) => bonds.Any(x => (x.A == a && x.B == b) || (x.A == b && x.B == a));

        void AddBond(int a, int b, int order, int position)
        {
            bonds.Add(new Bond(a, b, order));
            foreach (var atom in new[] { a, b })
            {
                int valence = bonds.Where(x => x.A == atom || x.B == atom).Sum(x => x.Order);
                var e = atoms[atom];
                if (valence > Elements.MaxValence(e))
                    throw Error(position, $"atom {atom + 1} ({Elements.Symbol(e)}, character {atomPositions[atom] + 1}) would have {valence} bonds' worth of valence; {Elements.Symbol(e)} takes at most {Elements.MaxValence(e)}.");
            }
        }
    }
}
