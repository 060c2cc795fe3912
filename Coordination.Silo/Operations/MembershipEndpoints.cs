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
        const string Shape = "A silo is {id > 0, clientUrl: http(s)://host:port, peerAddress: host:port, http2Url (optional): http://host:port}.";
        var peerPort = PortOf(body.PeerAddress);
        var invalid = body.Id == 0 ? "id"
            : !Uri.TryCreate(body.ClientUrl, UriKind.Absolute, out var client) || client.Scheme is not ("http" or "https") ? "clientUrl"
            : peerPort == 0 ? "peerAddress"
            : body.Http2Url is not null && !IsHttp2Url(body.Http2Url, client, peerPort) ? "http2Url"
            : null;
        if (invalid is not null)
        {
            return Problems.Validation(invalid, invalid == "http2Url"
                ? "http2Url is the silo's HTTP/2 port without TLS: http://host:port, nothing after the port, a port other than its client and peer ports."
                : Shape);
        }

        if (silo.Host.Status.Role != RaftRole.Leader)
        {
            return Problems.Create(503, "no-leader", "Membership changes are made by the leader; retry.");
        }

        // Addresses first, so that the leader (and everyone) can reach the learner once it is added.
        var (book, _) = await gateway.ReadAsync(sm => sm.GetConfig(GrainStateMachineAdapter.AddressBookName), ReadConsistency.Linearizable, cancellation);
        var updated = AddressBook.With(book?.Value, new SiloAddress(body.Id, body.ClientUrl!, body.PeerAddress!, body.Http2Url));
        var (written, _) = await gateway.ExecuteAsync(new PutConfig(GrainStateMachineAdapter.AddressBookName, updated, book?.Version ?? 0), null, cancellation);
        if (written is Rejected rejected)
        {
            return Problems.From(rejected);
        }

        return await Change(silo, gateway, MembershipChangeKind.AddLearner, body.Id, cancellation);
    }

    /// <summary>The port of <c>host:port</c>, or 0 when there is none.</summary>
    private static int PortOf(string? address)
    {
        var colon = address?.LastIndexOf(':') ?? -1;
        return colon > 0 && int.TryParse(address.AsSpan(colon + 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var port) && port is > 0 and <= 65535 ? port : 0;
    }

    // As strict as --members' fourth port: a URL that could not be the silo's own HTTP/2 listener is refused.
    private static bool IsHttp2Url(string text, Uri client, int peerPort) =>
        Uri.TryCreate(text, UriKind.Absolute, out var url) && url.Scheme == "http" && !url.IsDefaultPort
        && url.AbsolutePath == "/" && url.Query.Length == 0 && url.Fragment.Length == 0 && url.UserInfo.Length == 0
        && !text.EndsWith('?') && !text.EndsWith('#')
        && url.Port != peerPort && !(url.Port == client.Port && string.Equals(url.Host, client.Host, StringComparison.OrdinalIgnoreCase));

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
