using System.Text;

namespace LlavaModal.Tokenizers.SentencePiece;

/// <summary>
/// The parts of a SentencePiece <c>tokenizer.model</c> (a <c>ModelProto</c> protobuf) that encoding and
/// decoding need: pieces with score and type, the normalizer flags and the special ids.
/// </summary>
/// <remarks>
/// Read directly rather than through Microsoft.ML.Tokenizers because its BPE needs the piece scores, which
/// that library does not expose (see <see cref="SentencePieceBpe"/> for why its own BPE is not used).
/// </remarks>
sealed class SentencePieceModel
{
    public enum PieceType
    {
        Normal = 1,
        Unknown = 2,
        Control = 3,
        UserDefined = 4,
        Unused = 5,
        Byte = 6,
    }

    const int ModelTypeBpe = 2;

    readonly List<string> pieces = [];
    readonly List<float> scores = [];
    readonly List<PieceType> types = [];

    SentencePieceModel()
    {
    }

    public IReadOnlyList<string> Pieces => pieces;

    public IReadOnlyList<float> Scores => scores;

    public IReadOnlyList<PieceType> Types => types;

    public int ModelType { get; private set; } = 1; // proto2 default: UNIGRAM

    public bool ByteFallback { get; private set; }

    public bool TreatWhitespaceAsSuffix { get; private set; }

    public int UnkId { get; private set; }

    public int BosId { get; private set; } = 1;

    public int EosId { get; private set; } = 2;

    public string NormalizerName { get; private set; } = string.Empty;

    public bool HasPrecompiledCharsMap { get; private set; }

    public bool AddDummyPrefix { get; private set; } = true;

    public bool RemoveExtraWhitespaces { get; private set; } = true;

    public bool EscapeWhitespaces { get; private set; } = true;

    public static SentencePieceModel Load(string path)
    {
        byte[] data = TokenizerInput.ReadAllBytes(path);
        var model = new SentencePieceModel();
        try
        {
            model.ReadModel(new ProtoReader(data, 0, data.Length));
        }
        catch (Exception e) when (e is InvalidDataException or ArgumentException or DecoderFallbackException or IndexOutOfRangeException)
        {
            throw new InvalidDataException($"'{path}' is not a readable SentencePiece model: {e.Message}", e);
        }

        if (model.pieces.Count == 0)
        {
            throw new InvalidDataException($"'{path}' is not a readable SentencePiece model: it has no pieces.");
        }

        if (model.ModelType != ModelTypeBpe)
        {
            throw new NotSupportedException($"'{path}': trainer_spec.model_type {model.ModelType} is not supported; only BPE (2) is.");
        }

        // Text is normalized by HfTokenizer itself (spaces escaped); anything beyond that is not reproduced.
        if (model.HasPrecompiledCharsMap || model.RemoveExtraWhitespaces || !model.EscapeWhitespaces || model.TreatWhitespaceAsSuffix)
        {
            throw new NotSupportedException(
                $"'{path}': normalizer_spec '{model.NormalizerName}' needs a precompiled charsmap, remove_extra_whitespaces, " +
                "treat_whitespace_as_suffix or unescaped whitespace; only the identity normalizer with escaped spaces is supported.");
        }

        return model;
    }

    void ReadModel(ProtoReader reader)
    {
        while (reader.Next(out int field, out int wire))
        {
            switch (field)
            {
                case 1 when wire == 2:
                    ReadPiece(reader.Message());
                    break;
                case 2 when wire == 2:
                    ReadTrainerSpec(reader.Message());
                    break;
                case 3 when wire == 2:
                    ReadNormalizerSpec(reader.Message());
                    break;
                default:
                    reader.Skip(wire);
                    break;
            }
        }
    }

    void ReadPiece(ProtoReader reader)
    {
        string piece = string.Empty;
        float score = 0;
        var type = PieceType.Normal;
        while (reader.Next(out int field, out int wire))
        {
            switch (field)
            {
                case 1 when wire == 2:
                    piece = reader.String();
                    break;
                case 2 when wire == 5:
                    score = reader.Float();
                    break;
                case 3 when wire == 0:
                    type = (PieceType)reader.Varint();
                    break;
                default:
                    reader.Skip(wire);
                    break;
            }
        }

        if (!Enum.IsDefined(type))
        {
            throw new InvalidDataException($"piece {pieces.Count} ('{piece}') has unknown type {(int)type}");
        }

        pieces.Add(piece);
        scores.Add(score);
        types.Add(type);
    }

    void ReadTrainerSpec(ProtoReader reader)
    {
        while (reader.Next(out int field, out int wire))
        {
            switch (field)
            {
                case 3 when wire == 0: ModelType = (int)reader.Varint(); break;
                case 24 when wire == 0: TreatWhitespaceAsSuffix = reader.Varint() != 0; break;
                case 35 when wire == 0: ByteFallback = reader.Varint() != 0; break;
                case 40 when wire == 0: UnkId = (int)reader.Varint(); break;
                case 41 when wire == 0: BosId = (int)reader.Varint(); break;
                case 42 when wire == 0: EosId = (int)reader.Varint(); break;
                default: reader.Skip(wire); break;
            }
        }
    }

    void ReadNormalizerSpec(ProtoReader reader)
    {
        while (reader.Next(out int field, out int wire))
        {
            switch (field)
            {
                case 1 when wire == 2: NormalizerName = reader.String(); break;
                case 2 when wire == 2: HasPrecompiledCharsMap = reader.Message().Length > 0; break;
                case 3 when wire == 0: AddDummyPrefix = reader.Varint() != 0; break;
                case 4 when wire == 0: RemoveExtraWhitespaces = reader.Varint() != 0; break;
                case 5 when wire == 0: EscapeWhitespaces = reader.Varint() != 0; break;
                default: reader.Skip(wire); break;
            }
        }
    }

    /// <summary>Minimal protobuf wire-format reader over a byte range.</summary>
    sealed class ProtoReader(byte[] data, int start, int end)
    {
        int position = start;

        public int Length => end - position;

        public bool Next(out int field, out int wire)
        {
            if (position >= end)
            {
                field = wire = 0;
                return false;
            }

            ulong key = Varint();
            field = (int)(key >> 3);
            wire = (int)(key & 7);
            return true;
        }

        public ulong Varint()
        {
            ulong value = 0;
            for (int shift = 0; shift < 64; shift += 7)
            {
                Require(1);
                byte b = data[position++];
                value |= (ulong)(b & 0x7F) << shift;
                if ((b & 0x80) == 0)
                {
                    return value;
                }
            }

            throw new InvalidDataException("malformed varint");
        }

        public float Float()
        {
            Require(4);
            float value = System.Buffers.Binary.BinaryPrimitives.ReadSingleLittleEndian(data.AsSpan(position, 4));
            position += 4;
            return value;
        }

        public ProtoReader Message()
        {
            int length = checked((int)Varint());
            Require(length);
            var inner = new ProtoReader(data, position, position + length);
            position += length;
            return inner;
        }

        public string String()
        {
            ProtoReader bytes = Message();
            return new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(data, bytes.position, bytes.Length);
        }

        public void Skip(int wire)
        {
            switch (wire)
            {
                case 0: Varint(); break;
                case 1: Require(8); position += 8; break;
                case 2: Message(); break;
                case 5: Require(4); position += 4; break;
                default: throw new InvalidDataException($"unsupported protobuf wire type {wire}");
            }
        }

        void Require(int count)
        {
            if (count < 0 || position + count > end)
            {
                throw new InvalidDataException("truncated protobuf data");
            }
        }
    }
}
