using System.Buffers.Binary;

namespace Coordination.Grains;

/// <summary>
/// The snapshot format. Layout (little-endian):
/// <code>
/// magic "CGSN" (u32) | format version (u32) | applied index (u64) | log time ms (i64)
/// | body: sessions, locks, elections, groups, configs, sequences, distributed transactions (from
///   version 2), event history, the sequence floor (u64; version 3, written only when it is not 0)
/// | CRC-32C of everything before it (u32)
/// </code>
/// Every collection is written in a fixed order (session id, ordinal name, queue order), so the
/// same state always gives the same bytes. Derived state (session attachments, the deadline
/// index) is not written but rebuilt on read, so it cannot disagree with the grains.
/// </summary>
public sealed partial class CoordinationStateMachine
{
    /// <summary>"CGSN" read as a little-endian u32.</summary>
    public const uint SnapshotMagic = 0x4E534743;

    /// <summary>Bump on any layout change; a reader refuses versions it does not know.</summary>
    public const uint SnapshotFormatVersion = 3;

    /// <summary>
    /// Version 2 had no sequence floor. It is still written while the floor is 0 (every cluster not
    /// restored from a saved state), so a silo of the build before it can still install this
    /// build's snapshots during a rolling upgrade; only a restored cluster, all of this build or
    /// newer, writes version 3.
    /// </summary>
    private const uint SnapshotFormatWithoutSequenceFloor = 2;

    /// <summary>Version 1 had no distributed transactions; it is still read (as none).</summary>
    private const uint SnapshotFormatWithoutTransactions = 1;

    private const int HeaderBytes = 4 + 4 + 8 + 8;

    /// <summary>Writes the whole state at <see cref="AppliedIndex"/> to <paramref name="destination"/>.</summary>
    public void WriteSnapshot(Stream destination)
    {
        ArgumentNullException.ThrowIfNull(destination);
        var encoder = new BinaryEncoder(64 * 1024);
        encoder.WriteUInt32(SnapshotMagic);
        encoder.WriteUInt32(SequenceFloor == 0 ? SnapshotFormatWithoutSequenceFloor : SnapshotFormatVersion);
        encoder.WriteUInt64(AppliedIndex);
        encoder.WriteInt64(LogTimeMs);
        WriteState(encoder);
        encoder.WriteUInt32(Crc32C.Compute(encoder.WrittenSpan));
        destination.Write(encoder.WrittenSpan);
    }

    /// <summary>
    /// For a new cluster started from a saved state: moves the state <paramref name="revisions"/> log
    /// indexes on, as if that many entries had been applied without changing anything. The old
    /// cluster may have gone on after the state was saved, handing out revisions, fencing tokens,
    /// session ids, term tokens and generated member ids (all log indexes) that the saved state does
    /// not know; past them, none is handed out twice, and a downstream store fencing on tokens accepts
    /// the new holders. Every sequence jumps as far, so its values stay unique too. The event history
    /// is reported compacted through the new index: a watcher resuming from a revision of the old
    /// cluster is told to start over (410) instead of silently missing everything until the new
    /// revisions reach its own.
    /// </summary>
    public void SkipRevisions(ulong revisions)
    {
        if (revisions == 0)
        {
            return;
        }

        ArgumentOutOfRangeException.ThrowIfGreaterThan(revisions, ulong.MaxValue / 2 - AppliedIndex);
        AppliedIndex += revisions;
        foreach (var (_, sequence) in _sequences.InNameOrder)
        {
            // A used sequence moves on; an unused one (Last 0) has handed nothing out.
            if (!sequence.IsEmpty)
            {
                sequence.Last = Saturating(sequence.Last, revisions);
            }
        }

        // A sequence the old cluster first used after the save is unknown here: every sequence now
        // starts above the floor, so it cannot hand out those values again either.
        SequenceFloor = Saturating(SequenceFloor, revisions);

        _events.CompactThrough(AppliedIndex);
        CheckInvariants();
    }

    private static ulong Saturating(ulong value, ulong add) => value > ulong.MaxValue - add ? ulong.MaxValue : value + add;

    /// <summary>
    /// Values every sequence has (as if) handed out: a sequence's next value is above both its own
    /// last one and this. 0 except in a cluster restored from a saved state (<see cref="SkipRevisions"/>).
    /// </summary>
    public ulong SequenceFloor
    {
        get => _step.SequenceFloor;
        private set => _step.SequenceFloor = value;
    }

    /// <summary>The snapshot as bytes; see <see cref="WriteSnapshot"/>.</summary>
    public byte[] WriteSnapshot()
    {
        using var stream = new MemoryStream();
        WriteSnapshot(stream);
        return stream.ToArray();
    }

    /// <summary>
    /// The grain state alone (the snapshot body, without applied index and log time): equal bytes
    /// mean equal state. Tests compare it before and after a rejected command.
    /// </summary>
    internal byte[] EncodeState()
    {
        var encoder = new BinaryEncoder();
        WriteState(encoder);
        return encoder.WrittenSpan.ToArray();
    }

    private void WriteState(BinaryEncoder encoder)
    {
        encoder.WriteCount(_sessions.Count);
        foreach (var s in _sessions.InIdOrder)
        {
            encoder.WriteUInt64(s.Id);
            encoder.WriteInt64(s.TtlMs);
            encoder.WriteInt64(s.CreatedMs);
            encoder.WriteInt64(s.DeadlineMs);
        }

        _locks.Write(encoder);
        _elections.Write(encoder);
        _groups.Write(encoder);
        _configs.Write(encoder);
        _sequences.Write(encoder);
        _transactions.Write(encoder);
        _events.Write(encoder);
        if (SequenceFloor != 0)
        {
            encoder.WriteUInt64(SequenceFloor);
        }
    }

    /// <summary>Reads a snapshot written by <see cref="WriteSnapshot(Stream)"/>. Throws <see cref="CorruptDataException"/> if it is damaged or of an unknown format.</summary>
    public static CoordinationStateMachine ReadSnapshot(Stream source)
    {
        ArgumentNullException.ThrowIfNull(source);
        using var buffer = new MemoryStream();
        source.CopyTo(buffer);
        return ReadSnapshot(buffer.GetBuffer().AsSpan(0, (int)buffer.Length));
    }

    /// <inheritdoc cref="ReadSnapshot(Stream)"/>
    public static CoordinationStateMachine ReadSnapshot(ReadOnlySpan<byte> snapshot)
    {
        if (snapshot.Length < HeaderBytes + 4)
        {
            throw new CorruptDataException($"A snapshot of {snapshot.Length} bytes is shorter than its header.");
        }

        var body = snapshot[..^4];
        var stored = BinaryPrimitives.ReadUInt32LittleEndian(snapshot[^4..]);
        if (Crc32C.Compute(body) != stored)
        {
            throw new CorruptDataException("Snapshot checksum mismatch.");
        }

        var d = new BinaryDecoder(body);
        if (d.ReadUInt32() != SnapshotMagic)
        {
            throw new CorruptDataException("Not a grain snapshot (bad magic).");
        }

        var version = d.ReadUInt32();
        if (version is not (SnapshotFormatVersion or SnapshotFormatWithoutSequenceFloor or SnapshotFormatWithoutTransactions))
        {
            throw new CorruptDataException($"Snapshot format version {version} is not supported (this build reads {SnapshotFormatVersion}).");
        }

        var appliedIndex = d.ReadUInt64();
        var logTimeMs = d.ReadInt64();
        var sessions = new SessionTable();
        var sessionCount = d.ReadCount(Limits.SessionsMax);
        for (var i = 0; i < sessionCount; i++)
        {
            var session = new SessionState(d.ReadUInt64(), d.ReadInt64(), d.ReadInt64(), d.ReadInt64());
            if (sessions.Find(session.Id) is not null || session.Id > appliedIndex)
            {
                throw new CorruptDataException($"Snapshot session {session.Id} is duplicated or from the future.");
            }

            sessions.Add(session);
        }

        var machine = new CoordinationStateMachine(sessions, new EventHistory())
        {
            AppliedIndex = appliedIndex,
            LogTimeMs = logTimeMs,
        };
        machine._locks.Read(ref d);
        machine._elections.Read(ref d);
        machine._groups.Read(ref d);
        machine._configs.Read(ref d);
        machine._sequences.Read(ref d);
        if (version >= SnapshotFormatWithoutSequenceFloor)
        {
            machine._transactions.Read(ref d);
        }

        machine._events.Read(ref d);
        if (version >= SnapshotFormatVersion)
        {
            machine.SequenceFloor = d.ReadUInt64();
            if (machine.SequenceFloor == 0)
            {
                throw new CorruptDataException("A version 3 snapshot records a sequence floor of 0.");
            }
        }

        d.EnsureEnd();
        return machine.Rebuild();
    }

    /// <summary>Rebuilds session attachments and the deadline index from the grains, then checks every invariant.</summary>
    private CoordinationStateMachine Rebuild()
    {
        try
        {
            ForEachAttachment((sessionId, attachment) =>
            {
                if (_sessions.Find(sessionId) is null)
                {
                    throw new CorruptDataException($"Snapshot {attachment} refers to missing session {sessionId}.");
                }

                _sessions.Attach(sessionId, attachment.Kind, attachment.Name);
            }, _deadlines);
            foreach (var session in _sessions.InIdOrder)
            {
                _deadlines.Add(session.Expiry);
            }

            foreach (var deadline in _transactions.PrepareDeadlines)
            {
                _deadlines.Add(deadline);
            }

            CheckInvariants();
        }
        catch (GrainInvariantException e)
        {
            throw new CorruptDataException($"Snapshot state is inconsistent: {e.Message}");
        }

        return this;
    }
}
