namespace Coordination.Grains;

/// <summary>
/// Join group <paramref name="Group"/> as <paramref name="MemberId"/> (empty: the state machine
/// generates a unique id, <c>_</c> followed by the entry's log index), bound to
/// <paramref name="SessionId"/>: the member leaves when the session ends. Ids starting with
/// <c>_</c> are reserved for generated ones. <paramref name="Metadata"/> is empty or one JSON value.
/// </summary>
public sealed record JoinGroup(string Group, ulong SessionId, string MemberId, byte[] Metadata) : Command;

/// <summary>Replace a member's metadata (empty or one JSON value).</summary>
public sealed record UpdateMember(string Group, string MemberId, byte[] Metadata) : Command;

public sealed record LeaveGroup(string Group, string MemberId) : Command;

public sealed record MemberJoined(string Group, string MemberId) : CommandResult;

public sealed record MemberUpdated(string Group, string MemberId) : CommandResult;

public sealed record MemberLeft(string Group, string MemberId) : CommandResult;

/// <summary>A member: joined at revision <paramref name="JoinedRevision"/>, metadata last set at <paramref name="UpdatedRevision"/>.</summary>
public sealed record Member(string MemberId, ulong SessionId, byte[] Metadata, ulong JoinedRevision, ulong UpdatedRevision);
