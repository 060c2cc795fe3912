using Coordination.Client.Http;
using Coordination.Client.Wire;

namespace Coordination.Client;

public sealed partial class CoordinationClient
{
    /// <summary>
    /// Adds a silo as a learner (start it with <c>--join</c> first): its addresses go into the
    /// replicated address book, then it receives the log. Promote it with <see cref="PromoteSiloAsync"/>.
    /// <paramref name="http2Url"/>: where it serves the API over HTTP/2 without TLS, if it does (the fourth
    /// port of its <c>--members</c> entry), so that clients with <c>UseHttp2</c> can reach it.
    /// </summary>
    /// <exception cref="CoordinationException"><c>membership-change-pending</c> while another change is uncommitted.</exception>
    public Task<ClusterStatus> AddSiloAsync(long id, Uri clientUrl, string peerAddress, Uri? http2Url = null, CancellationToken cancellationToken = default) =>
        WriteAsync(
            HttpMethod.Post, "v1/cluster/members", new AddSiloRequest(id, clientUrl.ToString().TrimEnd('/'), peerAddress, http2Url?.ToString().TrimEnd('/')),
            CoordinationJsonContext.Default.AddSiloRequest, CoordinationJsonContext.Default.ClusterStatus, cancellationToken);

    /// <summary>Makes a learner a voter; refused with <c>learner-not-caught-up</c> until its log holds every committed entry.</summary>
    public Task<ClusterStatus> PromoteSiloAsync(long id, CancellationToken cancellationToken = default) =>
        WriteAsync(HttpMethod.Post, $"v1/cluster/members/{id}/promote", CoordinationJsonContext.Default.ClusterStatus, cancellationToken);

    /// <summary>
    /// The whole state (every grain and the idempotency keys) at a linearizable point, for backups.
    /// A new cluster starts from it with the silo option <c>--restore-from FILE</c>.
    /// </summary>
    public Task<byte[]> SaveSnapshotAsync(CancellationToken cancellationToken = default) =>
        GetAsync("v1/cluster/snapshot", CoordinationJsonContext.Default.ByteArray, cancellationToken, attemptTimeout: TimeSpan.FromMinutes(2));

    /// <summary>Removes a silo from the cluster (to replace a failed one: remove it, then add an empty one).</summary>
    public Task<ClusterStatus> RemoveSiloAsync(long id, CancellationToken cancellationToken = default) =>
        WriteAsync(HttpMethod.Delete, $"v1/cluster/members/{id}", CoordinationJsonContext.Default.ClusterStatus, cancellationToken);
}
