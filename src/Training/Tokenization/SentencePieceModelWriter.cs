using Google.Protobuf;

namespace LlavaModal.Training.Tokenization;

/// <summary>A piece of a SentencePiece vocabulary: text, score (BPE merge priority) and type.</summary>
/// <param name="Text">The piece (<c>▁</c> for a space, <c>&lt;0xNN&gt;</c> for a byte piece).</param>
/// <param name="Score">Higher merges first.</param>
/// <param name="Type">SentencePiece's <c>ModelProto.SentencePiece.Type</c>: 1 normal, 2 unknown, 3 control, 6 byte.</param>
public sealed record SentencePiece(string Text, float Score, int Type);

/// <summary>
/// Writes a SentencePiece <c>tokenizer.model</c> (the <c>ModelProto</c> protobuf that <c>LlamaTokenizer</c> and
/// SentencePiece read) for a BPE vocabulary with byte fallback and LLaMA's normalizer settings. Field numbers are
/// those of <c>sentencepiece_model.proto</c>; written with Google.Protobuf's wire-format writer because no generated
/// class for that schema ships in a package.
/// </summary>
public static class SentencePieceModelWriter
{
    /// <summary>Piece type: a normal piece.</summary>
    public const int Normal = 1;
    /// <summary>Piece type: the unknown piece.</summary>
    public const int Unknown = 2;
    /// <summary>Piece type: a control symbol (BOS, EOS).</summary>
    public const int Control = 3;
    /// <summary>Piece type: a byte-fallback piece.</summary>
    public const int Byte = 6;

    /// <summary>Serialises the model: pieces (ids in order), BPE with byte fallback, unk 0 / bos 1 / eos 2, no pad.</summary>
    public static byte[] Serialize(IReadOnlyList<SentencePiece> pieces)
    {
        using var buffer = new MemoryStream();
        var output = new CodedOutputStream(buffer);
        foreach (var piece in pieces)
        {
            var message = Message(o =>
            {
                o.WriteTag(1, WireFormat.WireType.LengthDelimited); o.WriteString(piece.Text);
                o.WriteTag(2, WireFormat.WireType.Fixed32); o.WriteFloat(piece.Score);
                o.WriteTag(3, WireFormat.WireType.Varint); o.WriteEnum(piece.Type);
            });
            output.WriteTag(1, WireFormat.WireType.LengthDelimited); output.WriteBytes(message);
        }
        var trainer = Message(o =>
        {
            o.WriteTag(3, WireFormat.WireType.Varint); o.WriteEnum(2);              // model_type: BPE
            o.WriteTag(4, WireFormat.WireType.Varint); o.WriteInt32(pieces.Count);  // vocab_size
            o.WriteTag(35, WireFormat.WireType.Varint); o.WriteBool(true);          // byte_fallback
            o.WriteTag(40, WireFormat.WireType.Varint); o.WriteInt32(0);            // unk_id
            o.WriteTag(41, WireFormat.WireType.Varint); o.WriteInt32(1);            // bos_id
            o.WriteTag(42, WireFormat.WireType.Varint); o.WriteInt32(2);            // eos_id
            o.WriteTag(43, WireFormat.WireType.Varint); o.WriteInt32(-1);           // pad_id: none (added as <pad> by the tokenizer config)
        });
        output.WriteTag(2, WireFormat.WireType.LengthDelimited); output.WriteBytes(trainer);
        var normalizer = Message(o =>
        {
            o.WriteTag(1, WireFormat.WireType.LengthDelimited); o.WriteString("identity");
            o.WriteTag(3, WireFormat.WireType.Varint); o.WriteBool(true);           // add_dummy_prefix
            o.WriteTag(4, WireFormat.WireType.Varint); o.WriteBool(false);          // remove_extra_whitespaces
            o.WriteTag(5, WireFormat.WireType.Varint); o.WriteBool(true);           // escape_whitespaces
        });
        output.WriteTag(3, WireFormat.WireType.LengthDelimited); output.WriteBytes(normalizer);
        output.Flush();
        return buffer.ToArray();
    }

    static ByteString Message(Action<CodedOutputStream> write)
    {
        using var buffer = new MemoryStream();
        var output = new CodedOutputStream(buffer);
        write(output);
        output.Flush();
        return ByteString.CopyFrom(buffer.ToArray());
    }
}
