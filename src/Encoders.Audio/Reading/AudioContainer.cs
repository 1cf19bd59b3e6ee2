namespace LlavaModal.Encoders.Audio.Reading;

/// <summary>Container formats the reader recognises.</summary>
enum AudioContainer
{
    Unknown,
    Wav,
    Mp3,
}
