namespace Coordination.Grains;

/// <summary>
/// Commands to and from log-entry bytes: a little-endian <see cref="CommandId"/> (2 bytes), then
/// the fields in declaration order. The layout of an id never changes once released; a new
/// field means a new id. Decoding is strict: unknown ids, oversized fields and
/// trailing bytes all throw <see cref="CorruptDataException"/>, because a replica that skipped an
/// entry would diverge from the others.
/// </summary>
public static class CommandCodec
{
    /// <summary>The command level of this build: the newest <see cref="LevelOf"/>.</summary>
    public const int LevelCurrent = 3;

    /// <summary>
    /// The build that first understood <paramref name="command"/>: 1 for every command of the first
    /// release, 2 for <see cref="AbandonLock"/> (2026-11-22), 3 for <see cref="ExtendSessionsBy"/> (2026-11-22). A silo stops on an entry it cannot
    /// decode, so a leader proposes a command only when its <c>Coordination:CommandLevel</c> allows
    /// (lowered during a rolling upgrade from an older build, docs: deploy/README.md).
    /// </summary>
    public static int LevelOf(Command command) => command switch
    {
        ExtendSessionsBy => 3,
        AbandonLock => 2,
        _ => 1,
    };

    public static byte[] Encode(Command command)
    {
        var e = new BinaryEncoder();
        e.WriteUInt16((ushort)IdOf(command));
        switch (command)
        {
            case CreateSession c: e.WriteInt64(c.TtlMs); break;
            case RenewSession c: e.WriteUInt64(c.SessionId); break;
            case RevokeSession c: e.WriteUInt64(c.SessionId); break;
            case AdvanceTime or ExtendAllSessions: break;
            case ExtendSessionsBy c: e.WriteInt64(c.LeaderlessMs); break;
            case AcquireLock c:
                e.WriteString(c.Name);
                e.WriteUInt64(c.SessionId);
                e.WriteByte((byte)c.Mode);
                e.WriteInt32(c.Permits);
                e.WriteInt64(c.WaitMs);
                e.WriteInt64(c.MaxHoldMs);
                break;
            case ReleaseLock c:
                e.WriteString(c.Name);
                e.WriteUInt64(c.SessionId);
                e.WriteUInt64(c.Token);
                break;
            case AbandonLock c:
                e.WriteString(c.Name);
                e.WriteUInt64(c.SessionId);
                break;
            case Campaign c:
                e.WriteString(c.Name);
                e.WriteUInt64(c.SessionId);
                e.WriteBytes(c.Value);
                break;
            case Proclaim c:
                e.WriteString(c.Name);
                e.WriteUInt64(c.Token);
                e.WriteBytes(c.Value);
                break;
            case Resign c:
                e.WriteString(c.Name);
                e.WriteUInt64(c.SessionId);
                break;
            case JoinGroup c:
                e.WriteString(c.Group);
                e.WriteUInt64(c.SessionId);
                e.WriteString(c.MemberId);
                e.WriteBytes(c.Metadata);
                break;
            case UpdateMember c:
                e.WriteString(c.Group);
                e.WriteString(c.MemberId);
                e.WriteBytes(c.Metadata);
                break;
            case LeaveGroup c:
                e.WriteString(c.Group);
                e.WriteString(c.MemberId);
                break;
            case PutConfig c:
                e.WriteString(c.Name);
                e.WriteBytes(c.Value);
                e.WriteInt64(c.ExpectedVersion);
                break;
            case DeleteConfig c:
                e.WriteString(c.Name);
                e.WriteInt64(c.ExpectedVersion);
                break;
            case RollbackConfig c:
                e.WriteString(c.Name);
                e.WriteInt64(c.ToVersion);
                e.WriteInt64(c.ExpectedVersion);
                break;
            case FencedPutConfig c:
                e.WriteString(c.Name);
                e.WriteBytes(c.Value);
                e.WriteString(c.LockName);
                e.WriteUInt64(c.Token);
                break;
            case ReserveSequence c:
                e.WriteString(c.Name);
                e.WriteInt32(c.Count);
                break;
            case BeginDistributedTransaction c:
                e.WriteString(c.Id);
                e.WriteInt64(c.PrepareTimeoutMs);
                e.WriteCount(c.Participants.Count);
                foreach (var p in c.Participants)
                {
                    e.WriteString(p.Name);
                    e.WriteString(p.Endpoint);
                    e.WriteBytes(p.Work);
                }

                break;
            case RecordParticipantVote c:
                e.WriteString(c.Id);
                e.WriteString(c.Participant);
                e.WriteByte((byte)c.Vote);
                e.WriteString(c.Reason);
                break;
            case AbortDistributedTransaction c:
                e.WriteString(c.Id);
                e.WriteString(c.Reason);
                break;
            case AcknowledgeDecision c:
                e.WriteString(c.Id);
                e.WriteString(c.Participant);
                break;
            case ApplyTransaction c:
                EncodeTransaction(e, c);
                break;
        }

        return e.WrittenSpan.ToArray();
    }

    public static Command Decode(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length > Limits.CommandBytesMax)
        {
            throw new CorruptDataException($"A command of {bytes.Length} bytes exceeds CommandBytesMax ({Limits.CommandBytesMax}).");
        }

        var d = new BinaryDecoder(bytes);
        var id = (CommandId)d.ReadUInt16();
        // Strings and byte arrays are bounded by the largest legal value plus one, so an oversized
        // field still decodes into a command that the grain rejects with LimitExceeded.
        const int NameBytesMax = Limits.NameLengthMax * 4;
        Command command = id switch
        {
            CommandId.CreateSession => new CreateSession(d.ReadInt64()),
            CommandId.RenewSession => new RenewSession(d.ReadUInt64()),
            CommandId.RevokeSession => new RevokeSession(d.ReadUInt64()),
            CommandId.AdvanceTime => new AdvanceTime(),
            CommandId.ExtendAllSessions => new ExtendAllSessions(),
            CommandId.ExtendSessionsBy => new ExtendSessionsBy(d.ReadInt64()),
            CommandId.AcquireLock => new AcquireLock(d.ReadString(NameBytesMax), d.ReadUInt64(), (LockMode)d.ReadByte(), d.ReadInt32(), d.ReadInt64(), d.ReadInt64()),
            CommandId.ReleaseLock => new ReleaseLock(d.ReadString(NameBytesMax), d.ReadUInt64(), d.ReadUInt64()),
            CommandId.AbandonLock => new AbandonLock(d.ReadString(NameBytesMax), d.ReadUInt64()),
            CommandId.Campaign => new Campaign(d.ReadString(NameBytesMax), d.ReadUInt64(), d.ReadBytes(Limits.CommandBytesMax)),
            CommandId.Proclaim => new Proclaim(d.ReadString(NameBytesMax), d.ReadUInt64(), d.ReadBytes(Limits.CommandBytesMax)),
            CommandId.Resign => new Resign(d.ReadString(NameBytesMax), d.ReadUInt64()),
            CommandId.JoinGroup => new JoinGroup(d.ReadString(NameBytesMax), d.ReadUInt64(), d.ReadString(NameBytesMax), d.ReadBytes(Limits.CommandBytesMax)),
            CommandId.UpdateMember => new UpdateMember(d.ReadString(NameBytesMax), d.ReadString(NameBytesMax), d.ReadBytes(Limits.CommandBytesMax)),
            CommandId.LeaveGroup => new LeaveGroup(d.ReadString(NameBytesMax), d.ReadString(NameBytesMax)),
            CommandId.PutConfig => new PutConfig(d.ReadString(NameBytesMax), d.ReadBytes(Limits.CommandBytesMax), d.ReadInt64()),
            CommandId.DeleteConfig => new DeleteConfig(d.ReadString(NameBytesMax), d.ReadInt64()),
            CommandId.RollbackConfig => new RollbackConfig(d.ReadString(NameBytesMax), d.ReadInt64(), d.ReadInt64()),
            CommandId.FencedPutConfig => new FencedPutConfig(d.ReadString(NameBytesMax), d.ReadBytes(Limits.CommandBytesMax), d.ReadString(NameBytesMax), d.ReadUInt64()),
            CommandId.ReserveSequence => new ReserveSequence(d.ReadString(NameBytesMax), d.ReadInt32()),
            CommandId.ApplyTransaction => DecodeTransaction(ref d, NameBytesMax),
            CommandId.BeginDistributedTransaction => DecodeBegin(ref d, NameBytesMax),
            CommandId.RecordParticipantVote => new RecordParticipantVote(d.ReadString(NameBytesMax), d.ReadString(NameBytesMax), (ParticipantVote)d.ReadByte(), d.ReadString(Limits.CommandBytesMax)),
            CommandId.AbortDistributedTransaction => new AbortDistributedTransaction(d.ReadString(NameBytesMax), d.ReadString(Limits.CommandBytesMax)),
            CommandId.AcknowledgeDecision => new AcknowledgeDecision(d.ReadString(NameBytesMax), d.ReadString(NameBytesMax)),
            _ => throw new CorruptDataException($"Unknown command id {(ushort)id}."),
        };
        d.EnsureEnd();
        return command;
    }

    // Condition and operation tags, stored in the log: never renumbered.
    private const byte ConfigVersionIsTag = 1, LockTokenIsTag = 2, PutConfigTag = 1, DeleteConfigTag = 2, ReserveSequenceTag = 3, ReleaseLockTag = 4;

    private static void EncodeTransaction(BinaryEncoder e, ApplyTransaction t)
    {
        e.WriteCount(t.Conditions.Count);
        foreach (var condition in t.Conditions)
        {
            switch (condition)
            {
                case ConfigVersionIs c:
                    e.WriteByte(ConfigVersionIsTag);
                    e.WriteString(c.Name);
                    e.WriteInt64(c.Version);
                    break;
                case LockTokenIs l:
                    e.WriteByte(LockTokenIsTag);
                    e.WriteString(l.LockName);
                    e.WriteUInt64(l.Token);
                    break;
                default:
                    throw new ArgumentException($"{condition.GetType().Name} cannot be encoded.", nameof(t));
            }
        }

        e.WriteCount(t.Operations.Count);
        foreach (var operation in t.Operations)
        {
            switch (operation)
            {
                case PutConfigOperation p:
                    e.WriteByte(PutConfigTag);
                    e.WriteString(p.Name);
                    e.WriteBytes(p.Value);
                    break;
                case DeleteConfigOperation d:
                    e.WriteByte(DeleteConfigTag);
                    e.WriteString(d.Name);
                    break;
                case ReserveSequenceOperation r:
                    e.WriteByte(ReserveSequenceTag);
                    e.WriteString(r.Name);
                    e.WriteInt32(r.Count);
                    break;
                case ReleaseLockOperation l:
                    e.WriteByte(ReleaseLockTag);
                    e.WriteString(l.LockName);
                    e.WriteUInt64(l.SessionId);
                    e.WriteUInt64(l.Token);
                    break;
                default:
                    throw new ArgumentException($"{operation.GetType().Name} cannot be encoded.", nameof(t));
            }
        }
    }

    private static ApplyTransaction DecodeTransaction(ref BinaryDecoder d, int nameBytesMax)
    {
        // Counts are bounded one past the limit so an oversized transaction decodes and is refused by the grains.
        var conditions = new TransactionCondition[d.ReadCount(Limits.TransactionConditionsMax + 1)];
        for (var i = 0; i < conditions.Length; i++)
        {
            conditions[i] = d.ReadByte() switch
            {
                ConfigVersionIsTag => new ConfigVersionIs(d.ReadString(nameBytesMax), d.ReadInt64()),
                LockTokenIsTag => new LockTokenIs(d.ReadString(nameBytesMax), d.ReadUInt64()),
                var tag => throw new CorruptDataException($"Unknown transaction condition tag {tag}."),
            };
        }

        var operations = new TransactionOperation[d.ReadCount(Limits.TransactionOperationsMax + 1)];
        for (var i = 0; i < operations.Length; i++)
        {
            operations[i] = d.ReadByte() switch
            {
                PutConfigTag => new PutConfigOperation(d.ReadString(nameBytesMax), d.ReadBytes(Limits.CommandBytesMax)),
                DeleteConfigTag => new DeleteConfigOperation(d.ReadString(nameBytesMax)),
                ReserveSequenceTag => new ReserveSequenceOperation(d.ReadString(nameBytesMax), d.ReadInt32()),
                ReleaseLockTag => new ReleaseLockOperation(d.ReadString(nameBytesMax), d.ReadUInt64(), d.ReadUInt64()),
                var tag => throw new CorruptDataException($"Unknown transaction operation tag {tag}."),
            };
        }

        return new ApplyTransaction(conditions, operations);
    }

    private static BeginDistributedTransaction DecodeBegin(ref BinaryDecoder d, int nameBytesMax)
    {
        var id = d.ReadString(nameBytesMax);
        var timeout = d.ReadInt64();
        var participants = new ParticipantSpec[d.ReadCount(Limits.ParticipantsPerTransactionMax + 1)];
        for (var i = 0; i < participants.Length; i++)
        {
            participants[i] = new ParticipantSpec(d.ReadString(nameBytesMax), d.ReadString(Limits.CommandBytesMax), d.ReadBytes(Limits.CommandBytesMax));
        }

        return new BeginDistributedTransaction(id, participants, timeout);
    }

    public static CommandId IdOf(Command command) => command switch
    {
        CreateSession => CommandId.CreateSession,
        RenewSession => CommandId.RenewSession,
        RevokeSession => CommandId.RevokeSession,
        AdvanceTime => CommandId.AdvanceTime,
        ExtendAllSessions => CommandId.ExtendAllSessions,
        ExtendSessionsBy => CommandId.ExtendSessionsBy,
        AcquireLock => CommandId.AcquireLock,
        ReleaseLock => CommandId.ReleaseLock,
        AbandonLock => CommandId.AbandonLock,
        Campaign => CommandId.Campaign,
        Proclaim => CommandId.Proclaim,
        Resign => CommandId.Resign,
        JoinGroup => CommandId.JoinGroup,
        UpdateMember => CommandId.UpdateMember,
        LeaveGroup => CommandId.LeaveGroup,
        PutConfig => CommandId.PutConfig,
        DeleteConfig => CommandId.DeleteConfig,
        RollbackConfig => CommandId.RollbackConfig,
        FencedPutConfig => CommandId.FencedPutConfig,
        ReserveSequence => CommandId.ReserveSequence,
        ApplyTransaction => CommandId.ApplyTransaction,
        BeginDistributedTransaction => CommandId.BeginDistributedTransaction,
        RecordParticipantVote => CommandId.RecordParticipantVote,
        AbortDistributedTransaction => CommandId.AbortDistributedTransaction,
        AcknowledgeDecision => CommandId.AcknowledgeDecision,
        _ => throw new ArgumentException($"{command.GetType().Name} has no command id.", nameof(command)),
    };
}
