namespace Coordination.Grains;

/// <summary>Group membership commands. Validate first, then change.</summary>
internal static class MembershipGrain
{
    private const GrainKind Kind = GrainKind.Membership;

    /// <summary>Prefix of generated member ids; explicit ids may not use it, so the two never collide.</summary>
    public const char GeneratedIdPrefix = '_';

    public static CommandResult Join(MembershipState state, JoinGroup c, StepContext ctx)
    {
        var generate = c.MemberId.Length == 0;
        if (!generate && (!Names.IsValid(c.MemberId) || c.MemberId[0] == GeneratedIdPrefix))
        {
            return new Rejected(ErrorCode.InvalidName, $"'{c.MemberId}' is not a valid member id (ids starting with '{GeneratedIdPrefix}' are generated ones).");
        }

        if (CheckMetadata(c.Metadata) is { } metadataRejected)
        {
            return metadataRejected;
        }

        if (ctx.Sessions.CheckAttach(c.SessionId, Kind, c.Group, ctx.NowMs) is { } sessionRejected)
        {
            return sessionRejected;
        }

        var id = generate ? GeneratedIdPrefix + ctx.Index.ToString(System.Globalization.CultureInfo.InvariantCulture) : c.MemberId;
        if (state.Members.ContainsKey(id))
        {
            return new Rejected(ErrorCode.AlreadyExists, $"Group '{c.Group}' already has member '{id}'.");
        }

        if (state.Members.Count >= Limits.MembersPerGroupMax)
        {
            return new Rejected(ErrorCode.LimitExceeded, $"Group '{c.Group}' has {Limits.MembersPerGroupMax} members (MembersPerGroupMax).");
        }

        state.Members.Add(id, new Member(id, c.SessionId, c.Metadata, ctx.Index, ctx.Index));
        ctx.Sessions.Attach(c.SessionId, Kind, c.Group);
        ctx.Emit(EventType.MemberJoined, Kind, c.Group, c.SessionId, subject: id);
        return new MemberJoined(c.Group, id);
    }

    public static CommandResult Update(MembershipState state, UpdateMember c, StepContext ctx)
    {
        if (!state.Members.TryGetValue(c.MemberId, out var member))
        {
            return new Rejected(ErrorCode.NotFound, $"Group '{c.Group}' has no member '{c.MemberId}'.");
        }

        if (CheckMetadata(c.Metadata) is { } metadataRejected)
        {
            return metadataRejected;
        }

        state.Members[c.MemberId] = member with { Metadata = c.Metadata, UpdatedRevision = ctx.Index };
        ctx.Emit(EventType.MemberUpdated, Kind, c.Group, member.SessionId, subject: c.MemberId);
        return new MemberUpdated(c.Group, c.MemberId);
    }

    public static CommandResult Leave(MembershipState state, LeaveGroup c, StepContext ctx)
    {
        if (!state.Members.Remove(c.MemberId, out var member))
        {
            return new Rejected(ErrorCode.NotFound, $"Group '{c.Group}' has no member '{c.MemberId}'.");
        }

        ctx.Sessions.Detach(member.SessionId, Kind, c.Group);
        ctx.Emit(EventType.MemberLeft, Kind, c.Group, member.SessionId, subject: c.MemberId);
        return new MemberLeft(c.Group, c.MemberId);
    }

    /// <summary>Sessions ended (the caller drops them): their members leave; expiry and revocation are told apart in the event.</summary>
    public static void Remove(MembershipState state, string name, IReadOnlyList<Removal> removals, StepContext ctx)
    {
        foreach (var removal in removals)
        {
            GrainInvariant.Require(removal.EndsSession, $"Group '{name}' removes only ended sessions.");
            var member = state.Members.Values.FirstOrDefault(m => m.SessionId == removal.SessionId);
            GrainInvariant.Require(member is not null, $"Session {removal.SessionId} is attached to group '{name}' without a member.");
            state.Members.Remove(member!.MemberId);
            var type = removal.Reason == RemovalReason.SessionExpired ? EventType.MemberExpired : EventType.MemberLeft;
            ctx.Emit(type, Kind, name, removal.SessionId, subject: member.MemberId);
        }
    }

    internal static Rejected? CheckMetadata(byte[] metadata) =>
        JsonValue.Check(metadata, Limits.MetadataBytesMax, nameof(Limits.MetadataBytesMax), "Member metadata", allowEmpty: true);
}
