using System.Buffers.Binary;

namespace Coordination.Grains;

/// <summary>
/// The envelope of a whole-state snapshot (the grains and the silo's idempotency keys). A saved
/// state (<c>GET /v1/cluster/snapshot</c>, backups, what a new cluster restores from) is sealed:
/// magic "CSA2", the applied index, the body, then CRC-32C of every byte before it. It lives outside
/// the data directory (files, blob storage), where no other checksum covers it, and the grains' own
/// checksum does not cover the idempotency keys. Raft snapshots still carry the older layout without
/// the trailer ("CSA1": magic, index, body): the snapshot file's and the peer frame's checksums cover
/// them, and a silo from before the trailer, which refuses "CSA2", must still install a snapshot an
/// upgraded leader sends it during a rolling upgrade. Both are read.
/// </summary>
public static class SavedStateFormat
{
    /// <summary>"CSA1": no checksum (states saved before 2026-11-22).</summary>
    public const uint MagicWithoutChecksum = 0x31415343;

    /// <summary>"CSA2": a CRC-32C trailer over everything before it.</summary>
    public const uint Magic = 0x32415343;

    private const int HeaderBytes = sizeof(uint) + sizeof(ulong);
    private const int TrailerBytes = sizeof(uint);

    /// <summary>A read-only stream over <paramref name="body"/>, a slice of <paramref name="bytes"/> that <see cref="Open"/> returned, without copying it.</summary>
    public static MemoryStream BodyStream(byte[] bytes, ReadOnlyMemory<byte> body) =>
        new(bytes, HeaderBytes, body.Length, writable: false);

    /// <summary>The Raft snapshot layout ("CSA1") of <paramref name="body"/> at <paramref name="appliedIndex"/>.</summary>
    public static byte[] WithoutChecksum(ulong appliedIndex, ReadOnlySpan<byte> body) =>
        Layout(MagicWithoutChecksum, appliedIndex, body, trailerBytes: 0);

    /// <summary>The sealed saved state of a state in either layout (checked first).</summary>
    public static byte[] Seal(ReadOnlyMemory<byte> state)
    {
        var (appliedIndex, body) = Open(state);
        return Seal(appliedIndex, body.Span);
    }

    /// <summary>The sealed saved state ("CSA2") of <paramref name="body"/> at <paramref name="appliedIndex"/>.</summary>
    public static byte[] Seal(ulong appliedIndex, ReadOnlySpan<byte> body)
    {
        var bytes = Layout(Magic, appliedIndex, body, TrailerBytes);
        var sealedBytes = bytes.Length - TrailerBytes;
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(sealedBytes), Crc32C.Compute(bytes.AsSpan(0, sealedBytes)));
        return bytes;
    }

    /// <summary>Magic, applied index and body, with room for a trailer.</summary>
    private static byte[] Layout(uint magic, ulong appliedIndex, ReadOnlySpan<byte> body, int trailerBytes)
    {
        var bytes = new byte[HeaderBytes + body.Length + trailerBytes];
        BinaryPrimitives.WriteUInt32LittleEndian(bytes, magic);
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(sizeof(uint)), appliedIndex);
        body.CopyTo(bytes.AsSpan(HeaderBytes));
        return bytes;
    }

    /// <summary>
    /// The applied index and body of a saved state, after checking its magic and (for "CSA2") its
    /// checksum. Throws <see cref="CorruptDataException"/> saying what is wrong.
    /// </summary>
    public static (ulong AppliedIndex, ReadOnlyMemory<byte> Body) Open(ReadOnlyMemory<byte> bytes)
    {
        var span = bytes.Span;
        if (span.Length < HeaderBytes)
        {
            throw new CorruptDataException($"Not a Coordination state snapshot: {span.Length} bytes, too short for its header.");
        }

        var magic = BinaryPrimitives.ReadUInt32LittleEndian(span);
        var appliedIndex = BinaryPrimitives.ReadUInt64LittleEndian(span[sizeof(uint)..]);
        switch (magic)
        {
            case MagicWithoutChecksum:
                return (appliedIndex, bytes[HeaderBytes..]);
            case Magic when span.Length < HeaderBytes + TrailerBytes:
                throw new CorruptDataException("Truncated state snapshot: no room for its checksum.");
            case Magic:
                var sealedBytes = span.Length - TrailerBytes;
                if (Crc32C.Compute(span[..sealedBytes]) != BinaryPrimitives.ReadUInt32LittleEndian(span[sealedBytes..]))
                {
                    throw new CorruptDataException("State snapshot checksum mismatch: the file is damaged or truncated.");
                }

                return (appliedIndex, bytes[HeaderBytes..sealedBytes]);
            default:
                throw new CorruptDataException("Not a Coordination state snapshot (bad magic).");
        }
    }
}
