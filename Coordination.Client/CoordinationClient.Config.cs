using System.Text.Json;
using Coordination.Client.Http;
using Coordination.Client.Wire;

namespace Coordination.Client;

public sealed partial class CoordinationClient
{
    /// <summary>
    /// A config document, or null when it does not exist. A stale read says in <see cref="ConfigDocument.Read"/>
    /// how stale it may be. With <paramref name="minRevision"/> the answering silo first waits until it has
    /// applied that revision (e.g. a lock's fencing token, or the revision of one's own last write), so a
    /// stale read still sees everything up to it.
    /// </summary>
    /// <exception cref="CoordinationException"><c>revision-not-applied</c> when the silo did not reach <paramref name="minRevision"/> in time.</exception>
    public async Task<ConfigDocument?> GetConfigAsync(string name, ReadConsistency consistency = ReadConsistency.Linearizable, long? minRevision = null, CancellationToken cancellationToken = default)
    {
        if (minRevision is { } min)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(min, nameof(minRevision));
        }

        var path = Query($"v1/config/{CoordinationRequest.Segment(name)}", ("consistency", consistency == ReadConsistency.Stale ? "stale" : null), ("minRevision", minRevision));
        try
        {
            var (document, read) = await GetWithMetadataAsync(path, CoordinationJsonContext.Default.ConfigDocument, cancellationToken).ConfigureAwait(false);
            return document with { Read = read };
        }
        catch (CoordinationException e) when (e.Error == CoordinationError.NotFound)
        {
            return null;
        }
    }

    /// <summary>
    /// Writes a config document. <paramref name="expectedVersion"/>: null writes unconditionally, 0 only
    /// if it does not exist, n only if the current version is n.
    /// </summary>
    /// <exception cref="CoordinationException"><c>version-mismatch</c> when <paramref name="expectedVersion"/> is not current.</exception>
    public Task<ConfigWriteResult> PutConfigAsync(string name, JsonElement value, long? expectedVersion = null, CancellationToken cancellationToken = default) =>
        WriteAsync(
            HttpMethod.Put, $"v1/config/{CoordinationRequest.Segment(name)}", new PutConfigRequest(value, expectedVersion),
            CoordinationJsonContext.Default.PutConfigRequest, CoordinationJsonContext.Default.ConfigWriteResult, cancellationToken);

    /// <summary>Compare-and-set: writes only if the current version is <paramref name="expectedVersion"/>; null when it is not.</summary>
    public async Task<ConfigWriteResult?> CompareAndSetConfigAsync(string name, JsonElement value, long expectedVersion, CancellationToken cancellationToken = default)
    {
        try
        {
            return await PutConfigAsync(name, value, expectedVersion, cancellationToken).ConfigureAwait(false);
        }
        catch (CoordinationException e) when (e.Error == CoordinationError.VersionMismatch)
        {
            return null;
        }
    }

    /// <summary>Deletes a config document (only at <paramref name="expectedVersion"/> when given); returns the deleted version.</summary>
    public async Task<long> DeleteConfigAsync(string name, long? expectedVersion = null, CancellationToken cancellationToken = default)
    {
        var path = Query($"v1/config/{CoordinationRequest.Segment(name)}", ("expectedVersion", expectedVersion));
        var deleted = await WriteAsync(HttpMethod.Delete, path, CoordinationJsonContext.Default.ConfigDeleted, cancellationToken).ConfigureAwait(false);
        return deleted.Version;
    }

    /// <summary>The last stored versions of a config document.</summary>
    public Task<ConfigHistory> GetConfigHistoryAsync(string name, CancellationToken cancellationToken = default) =>
        GetAsync($"v1/config/{CoordinationRequest.Segment(name)}/history", CoordinationJsonContext.Default.ConfigHistory, cancellationToken);

    /// <summary>Writes version <paramref name="toVersion"/>'s value as a new version (only over <paramref name="expectedVersion"/> when given).</summary>
    public Task<ConfigWriteResult> RollbackConfigAsync(string name, long toVersion, long? expectedVersion = null, CancellationToken cancellationToken = default) =>
        WriteAsync(
            HttpMethod.Post, $"v1/config/{CoordinationRequest.Segment(name)}/rollback", new RollbackRequest(toVersion, expectedVersion),
            CoordinationJsonContext.Default.RollbackRequest, CoordinationJsonContext.Default.ConfigWriteResult, cancellationToken);

    /// <summary>
    /// Writes a config document only while <paramref name="token"/> is the current fencing token of lock
    /// <paramref name="lockName"/>: a holder that lost its lock cannot overwrite its successor's writes.
    /// </summary>
    /// <exception cref="CoordinationException"><c>wrong-token</c> or <c>lock-not-held</c> for a stale holder.</exception>
    public Task<ConfigWriteResult> PutConfigFencedAsync(string name, JsonElement value, string lockName, long token, CancellationToken cancellationToken = default) =>
        WriteAsync(
            HttpMethod.Put, $"v1/config/{CoordinationRequest.Segment(name)}/fenced", new FencedPutRequest(value, lockName, token),
            CoordinationJsonContext.Default.FencedPutRequest, CoordinationJsonContext.Default.ConfigWriteResult, cancellationToken);

    /// <summary>
    /// Changes of a config document, in revision order, each once, until cancelled. Without
    /// <paramref name="afterRevision"/> the first item is a resync item with the current document. After a
    /// dropped connection the watch polls again from the last revision it yielded, so no change is missed or
    /// repeated; if the history no longer reaches back, it re-reads the document and yields a resync item.
    /// </summary>
    public IAsyncEnumerable<ConfigChange> WatchConfigAsync(string name, long? afterRevision = null, CancellationToken cancellationToken = default) =>
        WatchWithResyncAsync(
            "config",
            name,
            afterRevision,
            ct => ReadForResyncAsync(name, ct),
            (document, revision) => new ConfigChange(name, revision, ConfigChange.ResyncType, document?.Version, document),
            e => new ConfigChange(name, e.Revision, e.Type, e.Version, null),
            cancellationToken);

    /// <summary>The document (null when absent) and the revision the read reflects.</summary>
    private async Task<(ConfigDocument? Document, long Revision)> ReadForResyncAsync(string name, CancellationToken cancellationToken)
    {
        try
        {
            var (document, read) = await GetWithMetadataAsync($"v1/config/{CoordinationRequest.Segment(name)}", CoordinationJsonContext.Default.ConfigDocument, cancellationToken).ConfigureAwait(false);
            return (document with { Read = read }, read.Revision ?? document.Revision);
        }
        catch (CoordinationException e) when (e.Error == CoordinationError.NotFound)
        {
            return (null, e.Revision ?? 0);
        }
    }
}
