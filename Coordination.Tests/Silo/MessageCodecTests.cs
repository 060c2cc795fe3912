using System.Buffers;
using Coordination.Consensus;
using Coordination.Silo.Transport;

namespace Coordination.Tests.Silo;

public class MessageCodecTests
{
    private static readonly Message Full = new()
    {
        Kind = MessageKind.InstallSnapshot, From = 1, To = 2, Term = 9, LogTerm = 8, Index = 70, Commit = 65, RejectHint = 3, Context = 44, Reject = true,
        Entries = [new LogEntry(71, 9, EntryKind.Normal, [1, 2, 3]), new LogEntry(72, 9, EntryKind.Membership, new Membership([1, 2], [3]).Encode())],
        Snapshot = new Snapshot(new SnapshotMetadata(60, 7, new Membership([1, 2, 3], [])), [5, 5]),
    };

    [Fact]
    public void A_message_survives_framing_with_every_field()
    {
        var bytes = new ReadOnlySequence<byte>(MessageCodec.EncodeFrame(Full));
        Assert.True(MessageCodec.TryReadFrame(ref bytes, out var decoded));
        Assert.True(bytes.IsEmpty);
        Assert.Equal(Full with { Entries = [], Snapshot = null }, decoded with { Entries = [], Snapshot = null });
        Assert.True(Full.Entries.Zip(decoded.Entries).All(p => p.First.SameAs(p.Second)));
        Assert.Equal(Full.Snapshot!.Metadata, decoded.Snapshot!.Metadata);
        Assert.Equal(Full.Snapshot.Data, decoded.Snapshot.Data);
    }

    [Fact]
    public void A_partial_frame_asks_for_more_bytes()
    {
        var frame = MessageCodec.EncodeFrame(Full);
        var partial = new ReadOnlySequence<byte>(frame.AsMemory(0, frame.Length - 1));
        Assert.False(MessageCodec.TryReadFrame(ref partial, out _));
        Assert.Equal(frame.Length - 1, partial.Length);
    }

    [Fact]
    public void A_flipped_bit_fails_the_checksum()
    {
        var frame = MessageCodec.EncodeFrame(Full);
        frame[^5] ^= 0x10;
        var bytes = new ReadOnlySequence<byte>(frame);
        Assert.Throws<ProtocolException>(() => MessageCodec.TryReadFrame(ref bytes, out _));
    }

    [Fact]
    public void An_oversized_frame_is_refused_before_it_is_buffered()
    {
        var header = new byte[8];
        BitConverter.TryWriteBytes(header, (uint)MessageCodec.FrameBytesMax + 1);
        var bytes = new ReadOnlySequence<byte>(header);
        Assert.Throws<ProtocolException>(() => MessageCodec.TryReadFrame(ref bytes, out _));
    }
}
