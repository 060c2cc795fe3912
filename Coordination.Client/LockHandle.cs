using System.Text.Json;

namespace Coordination.Client;

/// <summary>
/// A granted lock. <see cref="Token"/> is the fencing token: pass it to whatever the lock protects so a
/// holder that lost the lock (its session expired) is refused there. Disposing releases the lock.
/// </summary>
public sealed class LockHandle : IAsyncDisposable
{
    // 0 held, 1 a release in flight, 2 released (or found gone).
    private int _released;

    /// <param name="read">The document the silo read with the grant (version 0: it does not exist); null when it read none.</param>
    internal LockHandle(CoordinationSession session, string name, LockMode mode, long token, ConfigDocument? read = null)
    {
        Session = session;
        Name = name;
        Mode = mode;
        Token = token;
        ConfigRead = read is not null;
        Config = read is { Version: > 0 } ? read : null;
    }

    public CoordinationSession Session { get; }

    public string Name { get; }

    public LockMode Mode { get; }

    /// <summary>The fencing token: the log index of the grant, strictly increasing per lock.</summary>
    public long Token { get; }

    /// <summary>The document the acquire asked for with <c>readConfig</c>, as of the grant; null when it does not exist (or was not read: <see cref="ConfigRead"/>).</summary>
    public ConfigDocument? Config { get; }

    /// <summary>
    /// Whether the silo read the <c>readConfig</c> document with the grant. False when not asked, or
    /// when the silo could not (overloaded, or a build without it during an upgrade): read it yourself,
    /// at <c>minRevision</c> = <see cref="Token"/>.
    /// </summary>
    public bool ConfigRead { get; }

    /// <summary>Cancelled when the session is lost: the lock may then belong to someone else.</summary>
    public CancellationToken Lost => Session.SessionLost;

    /// <summary>Writes a config document fenced by this lock (refused once this grant is no longer current).</summary>
    public Task<ConfigWriteResult> PutConfigAsync(string configName, JsonElement value, CancellationToken cancellationToken = default) =>
        Session.Client.PutConfigFencedAsync(configName, value, Name, Token, cancellationToken);

    /// <summary>
    /// Releases the lock; a call after it succeeded (or while another is in flight) does nothing. One
    /// that failed may be called again: the lock is still held until the session ends.
    /// </summary>
    public async Task ReleaseAsync(CancellationToken cancellationToken = default)
    {
        if (Interlocked.CompareExchange(ref _released, 1, 0) != 0)
        {
            return;
        }

        try
        {
            await Session.Client.ReleaseLockAsync(Session.Id, Name, Token, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not CoordinationException { Error: CoordinationError.LockNotHeld or CoordinationError.WrongToken })
        {
            // Not released: a retry (or DisposeAsync) must send the release again.
            Volatile.Write(ref _released, 0);
            throw;
        }

        Volatile.Write(ref _released, 2);
    }

    /// <summary>
    /// Releases the lock. A lock that is already gone (session lost, grant revoked) is not an error here;
    /// other failures of a live session propagate, since the lock may stay held until the session expires.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        try
        {
            await ReleaseAsync().ConfigureAwait(false);
        }
        catch (CoordinationException e) when (Session.LostBecause is not null || e.IsSessionGone || e.Error is CoordinationError.LockNotHeld or CoordinationError.WrongToken)
        {
            // Nothing left to release, or nothing that can be released: the session's expiry frees the lock.
        }
    }
}
