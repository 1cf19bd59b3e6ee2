namespace LlavaModal.Tests.Encoders.Audio;

/// <summary>A seekable WAV whose data chunk really is <c>dataBytes</c> long (of silence) without holding it in memory,
/// to prove the reader stops at its duration cap however large the input.</summary>
sealed class VirtualWavStream : Stream
{
    readonly byte[] header;
    long position;

    public VirtualWavStream(byte[] fmt, long dataBytes)
    {
        header = TestWav.Riff(uint.MaxValue, ("fmt ", fmt, null), ("data", [], (uint)Math.Min(dataBytes, uint.MaxValue - 1)));
        Length = header.Length + dataBytes;
    }

    public override long Length { get; }
    public override bool CanRead => true;
    public override bool CanSeek => true;
    public override bool CanWrite => false;
    public override long Position { get => position; set => position = value; }

    public override int Read(byte[] buffer, int offset, int count)
    {
        int n = (int)Math.Clamp(Length - position, 0, count);
        for (int i = 0; i < n; i++)
        {
            long p = position + i;
            buffer[offset + i] = p < header.Length ? header[p] : (byte)0;
        }
        position += n;
        return n;
    }

    public override long Seek(long offset, SeekOrigin origin) => position = origin switch
    {
        SeekOrigin.Begin => offset,
        SeekOrigin.Current => position + offset,
        _ => Length + offset,
    };

    public override void Flush() { }
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
