using System.Buffers.Binary;
using Coordination.Consensus;
using Coordination.Grains;

namespace Coordination.Silo.Storage;

/// <summary>What a write-ahead-log frame records. Stored on disk: values never change meaning.</summary>
internal enum FrameKind : byte
{
    /// <summary>First frame of every segment: the hard state and snapshot point in force when it was created.</summary>
    SegmentStart = 1,

    /// <summary>One <see cref="ILogStorage.Save"/>: an optional hard state and a run of entries.</summary>
    Save = 2,

    /// <summary>The log prefix up to an index is covered by a snapshot in the snapshot store.</summary>
    Compacted = 3,

    /// <summary>A snapshot from the leader replaced the whole log.</summary>
    SnapshotInstalled = 4,
}

/// <summary>
/// The frame layout (docs/storage.md): a 12-byte header — payload length (u32), CRC-32C of the payload
/// (u32), CRC-32C of those 8 bytes (u32) — then the payload, whose first byte is the
/// <see cref="FrameKind"/>. All integers little-endian. The header has its own checksum so a
/// flipped length is caught before it is trusted to find the next frame.
/// </summary>
internal static class WalFormat
{
    public const int FrameHeaderBytes = 12;

    /// <summary>"CWAL" read as a little-endian u32.</summary>
    public const uint SegmentMagic = 0x4C415743;

    public const uint FormatVersion = 1;

    public const string SegmentExtension = ".wal";

    /// <summary>Bytes of a hard state on disk: term, vote, commit.</summary>
    public const int HardStateBytes = 24;

    /// <summary>Bytes of an entry on disk besides its data: index, term, kind, data length.</summary>
    public const int EntryOverheadBytes = LogEntry.HeaderBytes;

    public static string SegmentName(ulong sequence) => $"{sequence:D20}{SegmentExtension}";

    public static bool TryParseSegmentName(string name, out ulong sequence)
    {
        sequence = 0;
        return name.EndsWith(SegmentExtension, StringComparison.Ordinal) &&
            name.Length == 20 + SegmentExtension.Length &&
            ulong.TryParse(name.AsSpan(0, 20), System.Globalization.NumberStyles.None, null, out sequence);
    }

    /// <summary>Fills the header of a frame whose payload follows it in <paramref name="frame"/>.</summary>
    public static void SealFrame(Span<byte> frame)
    {
        var payload = frame[FrameHeaderBytes..];
        BinaryPrimitives.WriteUInt32LittleEndian(frame, (uint)payload.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(frame[4..], Crc32C.Compute(payload));
        BinaryPrimitives.WriteUInt32LittleEndian(frame[8..], Crc32C.Compute(frame[..8]));
    }

    /// <summary>
    /// Checks the frame at <paramref name="offset"/>. Valid means both checksums match and the
    /// payload fits in <paramref name="bytes"/>; then <paramref name="payload"/> is set. The payload
    /// limit is not checked here: a log written under a larger RecordBytesMax stays readable.
    /// </summary>
    public static bool TryReadFrame(ReadOnlySpan<byte> bytes, long offset, out ReadOnlySpan<byte> payload)
    {
        payload = default;
        if (offset < 0 || bytes.Length - offset < FrameHeaderBytes)
        {
            return false;
        }

        var header = bytes.Slice((int)offset, FrameHeaderBytes);
        if (BinaryPrimitives.ReadUInt32LittleEndian(header[8..]) != Crc32C.Compute(header[..8]))
        {
            return false;
        }

        var length = BinaryPrimitives.ReadUInt32LittleEndian(header);
        if (length == 0 || length > bytes.Length - offset - FrameHeaderBytes)
        {
            return false;
        }

        var candidate = bytes.Slice((int)offset + FrameHeaderBytes, (int)length);
        if (BinaryPrimitives.ReadUInt32LittleEndian(header[4..]) != Crc32C.Compute(candidate))
        {
            return false;
        }

        payload = candidate;
        return true;
    }

    /// <summary>
    /// True when a valid frame starts anywhere after <paramref name="offset"/>. Used to tell a torn
    /// tail (nothing valid follows) from corruption in the middle (a valid frame follows). Zero runs,
    /// the normal content of preallocated space, are skipped without checksumming.
    /// </summary>
    public static bool AnyValidFrameAfter(ReadOnlySpan<byte> bytes, long offset)
    {
        var at = offset + 1;
        while (at <= bytes.Length - FrameHeaderBytes)
        {
            var nonZero = bytes[(int)at..].IndexOfAnyExcept((byte)0);
            if (nonZero < 0)
            {
                return false;
            }

            // A header has a non-zero length in its first 4 bytes, so a frame may start up to 3
            // bytes before the first non-zero byte.
            for (var start = Math.Max(at, at + nonZero - 3); start <= at + nonZero; start++)
            {
                if (TryReadFrame(bytes, start, out _))
                {
                    return true;
                }
            }

            at += nonZero + 1;
        }

        return false;
    }

    /// <summary>Offset just past the last non-zero byte at or after <paramref name="offset"/>, or <paramref name="offset"/> when all are zero.</summary>
    public static long EndOfNonZero(ReadOnlySpan<byte> bytes, long offset)
    {
        var last = bytes[(int)offset..].LastIndexOfAnyExcept((byte)0);
        return last < 0 ? offset : offset + last + 1;
    }
}

/// <summary>Builds frames in one reusable buffer, so a <see cref="ILogStorage.Save"/> allocates nothing in steady state.</summary>
internal sealed class FrameWriter(int initialBytes = 64 * 1024)
{
    private byte[] _buffer = new byte[initialBytes];
    private int _length;

    public int PayloadBytes => _length - WalFormat.FrameHeaderBytes;

    public void Begin(FrameKind kind)
    {
        _length = WalFormat.FrameHeaderBytes;
        U8((byte)kind);
    }

    /// <summary>Seals the header over what was written since <see cref="Begin"/> and returns the whole frame.</summary>
    public ReadOnlySpan<byte> Seal()
    {
        var frame = _buffer.AsSpan(0, _length);
        WalFormat.SealFrame(frame);
        return frame;
    }

    public void U8(byte value) => Reserve(1)[0] = value;

    public void U32(uint value) => BinaryPrimitives.WriteUInt32LittleEndian(Reserve(4), value);

    public void U64(ulong value) => BinaryPrimitives.WriteUInt64LittleEndian(Reserve(8), value);

    public void Bytes(ReadOnlySpan<byte> value) => value.CopyTo(Reserve(value.Length));

    public void HardState(HardState state)
    {
        U64(state.Term);
        U64(state.Vote);
        U64(state.Commit);
    }

    public void Entry(in LogEntry entry)
    {
        U64(entry.Index);
        U64(entry.Term);
        U8((byte)entry.Kind);
        U32((uint)entry.Data.Length);
        Bytes(entry.Data);
    }

    private Span<byte> Reserve(int bytes)
    {
        if (_length + bytes > _buffer.Length)
        {
            Array.Resize(ref _buffer, Math.Max(_buffer.Length * 2, _length + bytes));
        }

        var span = _buffer.AsSpan(_length, bytes);
        _length += bytes;
        return span;
    }
}

/// <summary>Reads a frame payload; running past the end means the payload is malformed, which its checksum should have prevented.</summary>
internal ref struct FrameReader(ReadOnlySpan<byte> payload)
{
    private ReadOnlySpan<byte> _rest = payload;

    public readonly bool AtEnd => _rest.IsEmpty;

    public byte U8() => Take(1)[0];

    public uint U32() => BinaryPrimitives.ReadUInt32LittleEndian(Take(4));

    public ulong U64() => BinaryPrimitives.ReadUInt64LittleEndian(Take(8));

    public HardState HardState() => new(U64(), U64(), U64());

    public LogEntry Entry()
    {
        var index = U64();
        var term = U64();
        var kind = (EntryKind)U8();
        var length = U32();
        Invariant.Require(length <= _rest.Length, "an entry's data runs past its frame");
        return new LogEntry(index, term, kind, Take((int)length).ToArray());
    }

    private ReadOnlySpan<byte> Take(int bytes)
    {
        Invariant.Require(bytes <= _rest.Length, "a frame payload ends early");
        var taken = _rest[..bytes];
        _rest = _rest[bytes..];
        return taken;
    }
}
