using System.Buffers;
using System.Buffers.Binary;
using Coordination.Consensus;
using Coordination.Grains;

namespace Coordination.Silo.Transport;

/// <summary>A frame or message from a peer that is not what the protocol allows.</summary>
public sealed class ProtocolException(string message) : Exception(message);

/// <summary>
/// Binary encoding of Raft <see cref="Message"/>s between silos. On the wire each message is one
/// frame: length (u32), CRC32C of the payload (u32), payload. All integers little-endian.
/// Payload: version, kind, from, to, term, log term, index, commit, reject hint, context, flags,
/// entries (count, then index, term, kind, length, bytes each), optional snapshot.
/// </summary>
public static class MessageCodec
{
    public const byte Version = 1;

    /// <summary>Largest frame accepted from a peer; a snapshot must fit in one message.</summary>
    public const int FrameBytesMax = 256 << 20;

    public const int FrameHeaderBytes = 8;

    private const int EntriesPerMessageMax = 1 << 20;

    /// <summary>Writes one framed message into <paramref name="writer"/>.</summary>
    public static void WriteFrame(Message message, IBufferWriter<byte> writer)
    {
        var size = PayloadSize(message);
        if (size > FrameBytesMax)
        {
            throw new ProtocolException($"a {message.Kind} message of {size} bytes exceeds FrameBytesMax ({FrameBytesMax})");
        }

        var span = writer.GetSpan(FrameHeaderBytes + size)[..(FrameHeaderBytes + size)];
        var payload = span[FrameHeaderBytes..];
        WritePayload(message, payload);
        BinaryPrimitives.WriteUInt32LittleEndian(span, (uint)size);
        BinaryPrimitives.WriteUInt32LittleEndian(span[4..], Crc32C.Compute(payload));
        writer.Advance(FrameHeaderBytes + size);
    }

    /// <summary>Encodes one framed message into a new array (tests and diagnostics).</summary>
    public static byte[] EncodeFrame(Message message)
    {
        var buffer = new ArrayBufferWriter<byte>();
        WriteFrame(message, buffer);
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>
    /// Reads one frame from the start of <paramref name="buffer"/>. Returns false when more bytes are
    /// needed; throws <see cref="ProtocolException"/> on an oversized frame, a checksum mismatch or a malformed payload.
    /// </summary>
    public static bool TryReadFrame(ref ReadOnlySequence<byte> buffer, out Message message)
    {
        message = null!;
        if (buffer.Length < FrameHeaderBytes)
        {
            return false;
        }

        Span<byte> header = stackalloc byte[FrameHeaderBytes];
        buffer.Slice(0, FrameHeaderBytes).CopyTo(header);
        var size = BinaryPrimitives.ReadUInt32LittleEndian(header);
        var crc = BinaryPrimitives.ReadUInt32LittleEndian(header[4..]);
        if (size > FrameBytesMax)
        {
            throw new ProtocolException($"a peer sent a frame of {size} bytes, over FrameBytesMax ({FrameBytesMax})");
        }

        if (buffer.Length < FrameHeaderBytes + size)
        {
            return false;
        }

        var payloadSequence = buffer.Slice(FrameHeaderBytes, size);
        var payload = payloadSequence.IsSingleSegment ? payloadSequence.FirstSpan : payloadSequence.ToArray();
        if (Crc32C.Compute(payload) != crc)
        {
            throw new ProtocolException("a peer frame failed its checksum");
        }

        message = ReadPayload(payload);
        buffer = buffer.Slice(FrameHeaderBytes + size);
        return true;
    }

    private static int PayloadSize(Message m)
    {
        var size = 2 + (8 * 8) + 1 + 4;
        foreach (var entry in m.Entries)
        {
            size += 8 + 8 + 1 + 4 + entry.Data.Length;
        }

        size += 1;
        if (m.Snapshot is { } snapshot)
        {
            size += 8 + 8 + 4 + MembershipBytes(snapshot.Metadata.Membership) + 4 + snapshot.Data.Length;
        }

        return size;
    }

    private static int MembershipBytes(Membership membership) => 4 + (8 * membership.Voters.Count) + 4 + (8 * membership.Learners.Count);

    private static void WritePayload(Message m, Span<byte> span)
    {
        var w = new SpanWriter(span);
        w.U8(Version);
        w.U8((byte)m.Kind);
        w.U64(m.From);
        w.U64(m.To);
        w.U64(m.Term);
        w.U64(m.LogTerm);
        w.U64(m.Index);
        w.U64(m.Commit);
        w.U64(m.RejectHint);
        w.U64(m.Context);
        w.U8(m.Reject ? (byte)1 : (byte)0);
        w.U32((uint)m.Entries.Count);
        foreach (var entry in m.Entries)
        {
            w.U64(entry.Index);
            w.U64(entry.Term);
            w.U8((byte)entry.Kind);
            w.Bytes(entry.Data);
        }

        if (m.Snapshot is { } snapshot)
        {
            w.U8(1);
            w.U64(snapshot.Metadata.Index);
            w.U64(snapshot.Metadata.Term);
            w.Bytes(snapshot.Metadata.Membership.Encode());
            w.Bytes(snapshot.Data);
        }
        else
        {
            w.U8(0);
        }

        Invariant.Require(w.Position == span.Length, "message payload size was miscounted");
    }

    private static Message ReadPayload(ReadOnlySpan<byte> span)
    {
        var r = new SpanReader(span);
        if (r.U8() != Version)
        {
            throw new ProtocolException("a peer speaks another message version");
        }

        var kind = (MessageKind)r.U8();
        if (kind is < MessageKind.PreVote or > MessageKind.ReadIndexResponse)
        {
            throw new ProtocolException($"unknown message kind {(byte)kind}");
        }

        ulong from = r.U64(), to = r.U64(), term = r.U64(), logTerm = r.U64(), index = r.U64(), commit = r.U64(), hint = r.U64(), context = r.U64();
        var reject = r.U8() != 0;
        var count = r.U32();
        if (count > EntriesPerMessageMax)
        {
            throw new ProtocolException($"a message with {count} entries");
        }

        var entries = count == 0 ? Array.Empty<LogEntry>() : new LogEntry[count];
        for (var i = 0; i < count; i++)
        {
            var entryIndex = r.U64();
            var entryTerm = r.U64();
            var entryKind = (EntryKind)r.U8();
            if (entryKind > EntryKind.Membership)
            {
                throw new ProtocolException($"unknown entry kind {(byte)entryKind}");
            }

            entries[i] = new LogEntry(entryIndex, entryTerm, entryKind, r.Bytes());
        }

        Snapshot? snapshot = null;
        if (r.U8() == 1)
        {
            var snapIndex = r.U64();
            var snapTerm = r.U64();
            Membership membership;
            try
            {
                membership = Membership.Decode(r.Bytes());
            }
            catch (InvariantViolationException e)
            {
                throw new ProtocolException($"a snapshot with a malformed membership: {e.Message}");
            }

            snapshot = new Snapshot(new SnapshotMetadata(snapIndex, snapTerm, membership), r.Bytes());
        }

        if (!r.AtEnd)
        {
            throw new ProtocolException("trailing bytes after a message");
        }

        return new Message
        {
            Kind = kind, From = from, To = to, Term = term, LogTerm = logTerm, Index = index, Commit = commit,
            RejectHint = hint, Context = context, Reject = reject, Entries = entries, Snapshot = snapshot,
        };
    }

    private ref struct SpanWriter(Span<byte> span)
    {
        private readonly Span<byte> _span = span;

        public int Position { get; private set; }

        public void U8(byte value) => _span[Position++] = value;

        public void U32(uint value)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(_span[Position..], value);
            Position += 4;
        }

        public void U64(ulong value)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(_span[Position..], value);
            Position += 8;
        }

        public void Bytes(ReadOnlySpan<byte> value)
        {
            U32((uint)value.Length);
            value.CopyTo(_span[Position..]);
            Position += value.Length;
        }
    }

    private ref struct SpanReader(ReadOnlySpan<byte> span)
    {
        private readonly ReadOnlySpan<byte> _span = span;
        private int _position;

        public readonly bool AtEnd => _position == _span.Length;

        public byte U8() => Take(1)[0];

        public uint U32() => BinaryPrimitives.ReadUInt32LittleEndian(Take(4));

        public ulong U64() => BinaryPrimitives.ReadUInt64LittleEndian(Take(8));

        public byte[] Bytes() => Take((int)Math.Min(U32(), int.MaxValue)).ToArray();

        private ReadOnlySpan<byte> Take(int count)
        {
            if (count < 0 || _span.Length - _position < count)
            {
                throw new ProtocolException("a truncated message");
            }

            var slice = _span.Slice(_position, count);
            _position += count;
            return slice;
        }
    }
}
