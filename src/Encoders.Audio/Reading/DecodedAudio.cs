namespace LlavaModal.Encoders.Audio.Reading;

/// <summary>Mono samples at the source's own rate; <paramref name="Samples"/> is valid up to <paramref name="Count"/>.</summary>
sealed record DecodedAudio(float[] Samples, int Count, int SampleRate);
