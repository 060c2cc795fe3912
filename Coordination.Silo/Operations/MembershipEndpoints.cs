using Coordination.Api;
using Coordination.Consensus;
using Coordination.Grains;
using Coordination.Silo.Grains;

namespace Coordination.Silo;

/// <summary>
/// Operators change the cluster one silo at a time (dissertation §4): add a silo as a learner (its
/// addresses are first written to the replicated address book so every silo can reach it), promote
/// it to voter once it has caught up, remove a silo. Served by the leader; followers forward.
/// </summary>
public static class MembershipEndpoints
{
    public sealed record AddSiloRequest(ulong Id, string? ClientUrl, string? PeerAddress, string? Http2Url = null);

    public static void MapMembershipEndpoints(this WebApplication app)
    {
        var group = app.MapGroup("/v1/cluster/members").WithTags("Operations");
        group.MapPost("/", Add).WithSummary("Adds a silo as a learner; start it with --join first.");
        group.MapPost("/{id}/promote", (SiloRuntime silo, ICoordinationGateway gateway, ulong id, CancellationToken cancellation) =>
            Change(silo, gateway, MembershipChangeKind.PromoteLearner, id, cancellation)).WithSummary("Makes a caught-up learner a voter.");
        group.MapDelete("/{id}", (SiloRuntime silo, ICoordinationGateway gateway, ulong id, CancellationToken cancellation) =>
            Change(silo, gateway, MembershipChangeKind.RemoveMember, id, cancellation)).WithSummary("Removes a silo (a leader that removes itself steps down).");
    }

    private static async Task<IResult> Add(SiloRuntime silo, ICoordinationGateway gateway, AddSiloRequest body, CancellationToken cancellation)
    {
        if (body.Id == 0 || !Uri.TryCreate(body.ClientUrl, UriKind.Absolute, out var client) || client.Scheme is not ("http" or "https")
            || body.PeerAddress is null || !body.PeerAddress.Contains(':', StringComparison.Ordinal))
        {
            return Problems.Validation("id", "A silo is {id > 0, clientUrl: http(s)://host:port, peerAddress: host:port, http2Url (optional): http://host:port}.");
        }

        if (body.Http2Url is not null && (!Uri.TryCreate(body.Http2Url, UriKind.Absolute, out var http2) || http2.Scheme != "http"))
        {
            return Problems.Validation("http2Url", "http2Url is the silo's HTTP/2 without TLS: http://host:port.");
        }

        if (silo.Host.Status.Role != RaftRole.Leader)
        {
            return Problems.Create(503, "no-leader", "Membership changes are made by the leader; retry.");
        }

        // Addresses first, so that the leader (and everyone) can reach the learner once it is added.
        var (book, _) = await gateway.ReadAsync(sm => sm.GetConfig(GrainStateMachineAdapter.AddressBookName), ReadConsistency.Linearizable, cancellation);
        var updated = AddressBook.With(book?.Value, new SiloAddress(body.Id, body.ClientUrl!, body.PeerAddress, body.Http2Url));
        var (written, _) = await gateway.ExecuteAsync(new PutConfig(GrainStateMachineAdapter.AddressBookName, updated, book?.Version ?? 0), null, cancellation);
        if (written is Rejected rejected)
        {
            return Problems.From(rejected);
        }

        return await Change(silo, gateway, MembershipChangeKind.AddLearner, body.Id, cancellation);
    }

    private static async Task<IResult> Change(SiloRuntime silo, ICoordinationGateway gateway, MembershipChangeKind kind, ulong id, CancellationToken cancellation) =>
        await silo.Host.ChangeMembershipAsync(kind, id, cancellation) switch
        {
            ProposalResult.Accepted => TypedResults.Ok(gateway.Cluster()),
            ProposalResult.NotLeader or ProposalResult.Transferring => Problems.Create(503, "no-leader", "This silo is not the leader; retry."),
            ProposalResult.MembershipChangePending => Problems.Create(409, "membership-change-pending", "Another membership change is not committed yet, or the leader has not committed an entry of its term; retry."),
            ProposalResult.LearnerNotCaughtUp => Problems.Create(409, "learner-not-caught-up", $"Silo {id} does not hold every committed entry yet; retry when it has caught up."),
            var other => Problems.Create(409, "invalid-membership-change", $"{kind} of silo {id} is not possible ({other})."),
        };
}
