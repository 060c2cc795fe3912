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
            CommandId.AcquireLock => new AcquireLock(d.ReadString(NameBytesMax), d.ReadUInt64(), (LockMode)d.ReadByte(), d.ReadInt32(), d.ReadInt64(), d.ReadInt64()),
            CommandId.ReleaseLock => new ReleaseLock(d.ReadString(NameBytesMax), d.ReadUInt64(), d.ReadUInt64()),
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
            _ => throw new CorruptDataException($"Unknown command id {(ushort)id}."),
        };
        d.EnsureEnd();
        return command;
    }

    public static CommandId IdOf(Command command) => command switch
    {
        CreateSession => CommandId.CreateSession,
        RenewSession => CommandId.RenewSession,
        RevokeSession => CommandId.RevokeSession,
        AdvanceTime => CommandId.AdvanceTime,
        ExtendAllSessions => CommandId.ExtendAllSessions,
        AcquireLock => CommandId.AcquireLock,
        ReleaseLock => CommandId.ReleaseLock,
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
        _ => throw new ArgumentException($"{command.GetType().Name} has no command id.", nameof(command)),
    };
}
