using System.Text;

namespace Coordination.Silo.Grains;

/// <summary>
/// A client request as it travels in the log: the idempotency key (may be empty) and the encoded
/// grain command. Layout: key length (u8), key (ASCII), command bytes.
/// </summary>
public static class RequestEnvelope
{
    public const int KeyLengthMax = 128;

    public static byte[] Encode(string? idempotencyKey, ReadOnlySpan<byte> command)
    {
        var key = idempotencyKey ?? "";
        if (key.Length > KeyLengthMax || !Ascii.IsValid(key))
        {
            throw new ArgumentException($"An idempotency key is at most {KeyLengthMax} ASCII characters.", nameof(idempotencyKey));
        }

        var bytes = new byte[1 + key.Length + command.Length];
        bytes[0] = (byte)key.Length;
        Encoding.ASCII.GetBytes(key, bytes.AsSpan(1));
        command.CopyTo(bytes.AsSpan(1 + key.Length));
        return bytes;
    }

    public static (string Key, ReadOnlyMemory<byte> Command) Decode(ReadOnlyMemory<byte> payload)
    {
        var span = payload.Span;
        if (span.IsEmpty || span[0] > KeyLengthMax || span.Length < 1 + span[0])
        {
            throw new InvalidDataException("a request envelope is malformed");
        }

        var keyLength = span[0];
        return (Encoding.ASCII.GetString(span.Slice(1, keyLength)), payload[(1 + keyLength)..]);
    }
}
