using System.Buffers.Binary;

namespace Coordination.Silo.Hosting;

/// <summary>
/// How the silo wraps a command in a log entry: format version, the proposing request's id (so the
/// proposer can recognise its own entry when it is applied) and the leader's clock, then the command.
/// </summary>
public static class EntryEnvelope
{
    public const byte Version = 1;
    public const int HeaderBytes = 1 + 8 + 8;

    public static byte[] Wrap(ulong requestId, long timestampMs, ReadOnlySpan<byte> command)
    {
        var bytes = new byte[HeaderBytes + command.Length];
        bytes[0] = Version;
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(1), requestId);
        BinaryPrimitives.WriteInt64LittleEndian(bytes.AsSpan(9), timestampMs);
        command.CopyTo(bytes.AsSpan(HeaderBytes));
        return bytes;
    }

    public static (ulong RequestId, long TimestampMs, ReadOnlyMemory<byte> Command) Unwrap(byte[] data)
    {
        if (data.Length < HeaderBytes || data[0] != Version)
        {
            throw new InvalidDataException($"a log entry of {data.Length} bytes is not a version {Version} command envelope");
        }

        return (BinaryPrimitives.ReadUInt64LittleEndian(data.AsSpan(1)), BinaryPrimitives.ReadInt64LittleEndian(data.AsSpan(9)), data.AsMemory(HeaderBytes));
    }
}
