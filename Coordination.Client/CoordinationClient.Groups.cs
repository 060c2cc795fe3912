using System.Text.Json;
using Coordination.Client.Http;
using Coordination.Client.Wire;

namespace Coordination.Client;

public sealed partial class CoordinationClient
{
    /// <summary>The members of a group (<c>GET /v1/groups/{group}/members</c>).</summary>
    public async Task<IReadOnlyList<GroupMember>> ListMembersAsync(string group, CancellationToken cancellationToken = default) =>
        (await ListMembersWithRevisionAsync(group, cancellationToken).ConfigureAwait(false)).Members;

    /// <summary>Replaces a member's metadata.</summary>
    public async Task UpdateMemberAsync(string group, string memberId, JsonElement? metadata, CancellationToken cancellationToken = default)
    {
        await WriteAsync(
            HttpMethod.Patch, MemberPath(group, memberId), new UpdateMemberRequest(metadata),
            CoordinationJsonContext.Default.UpdateMemberRequest, CoordinationJsonContext.Default.MemberRef, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Removes a member from its group.</summary>
    public async Task LeaveGroupAsync(string group, string memberId, CancellationToken cancellationToken = default)
    {
        await WriteAsync(HttpMethod.Delete, MemberPath(group, memberId), CoordinationJsonContext.Default.MemberRef, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Membership changes of a group, in revision order, each once, until cancelled. Without
    /// <paramref name="afterRevision"/> the first item is a resync item listing the current members; a
    /// compacted history yields another resync item. Dropped connections resume from the last revision.
    /// </summary>
    public IAsyncEnumerable<MembershipChange> WatchMembersAsync(string group, long? afterRevision = null, CancellationToken cancellationToken = default) =>
        WatchWithResyncAsync(
            "membership",
            group,
            afterRevision,
            ct => ListMembersWithRevisionAsync(group, ct),
            (members, revision) => new MembershipChange(group, revision, MembershipChange.ResyncType, null, null, members),
            e => new MembershipChange(group, e.Revision, e.Type, e.Subject, e.SessionId, null),
            cancellationToken);

    internal async Task<string> JoinGroupAsync(long sessionId, string group, string? memberId, JsonElement? metadata, CancellationToken cancellationToken)
    {
        var body = new JoinGroupRequest(sessionId, metadata);
        var joined = memberId is null
            ? await WriteAsync(
                HttpMethod.Post, $"v1/groups/{CoordinationRequest.Segment(group)}/members", body,
                CoordinationJsonContext.Default.JoinGroupRequest, CoordinationJsonContext.Default.MemberRef, cancellationToken).ConfigureAwait(false)
            : await WriteAsync(
                HttpMethod.Put, MemberPath(group, memberId), body,
                CoordinationJsonContext.Default.JoinGroupRequest, CoordinationJsonContext.Default.MemberRef, cancellationToken).ConfigureAwait(false);
        return joined.MemberId;
    }

    private async Task<(IReadOnlyList<GroupMember> Members, long Revision)> ListMembersWithRevisionAsync(string group, CancellationToken cancellationToken)
    {
        var (members, read) = await GetWithMetadataAsync($"v1/groups/{CoordinationRequest.Segment(group)}/members", CoordinationJsonContext.Default.GroupMembers, cancellationToken).ConfigureAwait(false);
        return (members.Members, read.Revision ?? 0);
    }

    private static string MemberPath(string group, string memberId) =>
        $"v1/groups/{CoordinationRequest.Segment(group)}/members/{CoordinationRequest.Segment(memberId)}";
}
