using System.Runtime.CompilerServices;
using System.Text.Json;
using Coordination.Client.Http;
using Coordination.Client.Wire;

namespace Coordination.Client;

/// <summary>Why a session was lost.</summary>
public sealed class SessionLostEventArgs(string reason, Exception? error) : EventArgs
{
    /// <summary><c>session-expired</c>, <c>session-not-found</c>, or <c>unreachable</c> (the deadline passed without a keep-alive).</summary>
    public string Reason { get; } = reason;

    /// <summary>The last error of the keep-alive, if any.</summary>
    public Exception? Error { get; } = error;
}

/// <summary>
/// A session: the lease every lock, candidacy and membership hangs on. A background loop renews it every
/// TTL/3 until <see cref="DisposeAsync"/>. When the cluster says it is gone, or no keep-alive succeeds
/// before the local deadline, <see cref="SessionLost"/> is cancelled and <see cref="Lost"/> raised once:
/// from then on nothing acquired through it may be trusted.
/// </summary>
/// <remarks>
/// The local deadline is the earlier of a TTL after the last successful keep-alive was <em>sent</em> and
/// the deadline the silo answered (a silo may answer a keep-alive without renewing, with the deadline it
/// already had), so the client gives up no later than the silo expires the session. It is kept on the
/// monotonic clock (<see cref="TimeProvider.GetTimestamp"/>): a wall-clock step cannot stretch it.
/// Operations are thread-safe. <see cref="Lost"/>
/// handlers and <see cref="SessionLost"/> callbacks run on the thread that found the loss (usually the
/// keep-alive loop) and must not block.
/// </remarks>
public sealed class CoordinationSession : IAsyncDisposable
{
    /// <summary>Below this much time left, a failing keep-alive is not retried: the session counts as lost.</summary>
    public static readonly TimeSpan KeepAliveRetryDelayMin = TimeSpan.FromMilliseconds(100);

    private readonly CoordinationClient _client;
    private readonly TimeProvider _time;
    private readonly CancellationTokenSource _lost = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _keepAlive;
    private readonly Lock _lock = new();
    private readonly long _origin;
    private readonly long? _originServerMs;
    private TimeSpan _deadline;

    // The last deadline a silo answered and the local deadline first computed for it (under _lock).
    private long _answeredDeadlineMs;
    private TimeSpan _answeredLocal;
    private SessionLostEventArgs? _lostBecause;
    private int _disposed;

    /// <param name="sentAt">A <see cref="TimeProvider.GetTimestamp"/> taken before the request that made (or first renews) the session.</param>
    /// <param name="createdServerMs">The silo's clock when it created the session (its answer's deadline minus the TTL); null when unknown (an attached session).</param>
    internal CoordinationSession(CoordinationClient client, long id, TimeSpan ttl, long sentAt, long? createdServerMs, bool keepAlive)
    {
        _client = client;
        _time = client.Options.TimeProvider;
        Id = id;
        Ttl = ttl;
        _origin = sentAt;
        _originServerMs = createdServerMs;
        _deadline = ttl - ClockMargin(ttl);
        _keepAlive = keepAlive ? Task.Run(() => KeepAliveLoopAsync(_stop.Token)) : Task.CompletedTask;
    }

    /// <summary>
    /// What the local deadline keeps in hand against the silos' log clock running ahead of real time: a
    /// wall-clock step under the silos' step threshold (1 s) passes into it, and a larger one is slewed back
    /// at up to 5% of elapsed time (docs/grains.md, "Time and expiry"). So the silo's deadline can come up
    /// to 1 s + 5% of a TTL early; the client gives up that much sooner. At most a quarter of the TTL, so
    /// a short TTL still leaves room for its keep-alives (and only then is the margin short of the bound).
    /// </summary>
    internal static TimeSpan ClockMargin(TimeSpan ttl)
    {
        var margin = TimeSpan.FromSeconds(1) + (ttl * 0.05);
        return margin < ttl / 4 ? margin : ttl / 4;
    }

    /// <summary>Raised once when the session is lost, on the thread that found out (usually the keep-alive loop).</summary>
    public event EventHandler<SessionLostEventArgs>? Lost;

    public long Id { get; }

    public TimeSpan Ttl { get; }

    /// <summary>The client the session was made by.</summary>
    public CoordinationClient Client => _client;

    /// <summary>Cancelled when the session is lost (not when it is disposed).</summary>
    public CancellationToken SessionLost => _lost.Token;

    /// <summary>Why the session was lost, or null while it lives.</summary>
    public SessionLostEventArgs? LostBecause
    {
        get
        {
            lock (_lock)
            {
                return _lostBecause;
            }
        }
    }

    /// <summary>
    /// Until when the session surely lives, on the client's wall clock as it reads now (the deadline itself
    /// is kept on the monotonic clock; see the remarks).
    /// </summary>
    public DateTimeOffset LocalDeadline => _time.GetUtcNow() + TimeLeft();

    /// <summary>Renews the session once now (the loop does this on its own); moves <see cref="LocalDeadline"/>.</summary>
    /// <exception cref="CoordinationException"><c>session-expired</c> / <c>session-not-found</c> when it is gone (and it is then marked lost).</exception>
    public Task KeepAliveAsync(CancellationToken cancellationToken = default) => KeepAliveAsync(null, cancellationToken);

    private async Task KeepAliveAsync(TimeSpan? attemptTimeout, CancellationToken cancellationToken)
    {
        var sentAt = _time.GetElapsedTime(_origin);
        long deadlineMs;
        try
        {
            deadlineMs = await _client.KeepAliveAsync(Id, attemptTimeout, cancellationToken).ConfigureAwait(false);
        }
        catch (CoordinationException e) when (e.IsSessionGone)
        {
            MarkLost(e.Code, e);
            throw;
        }

        var renewed = sentAt + Ttl;
        if (_originServerMs is { } createdMs)
        {
            // The silo answers a keep-alive without renewing while its deadline is more than TTL/2 away, and
            // then that deadline, not sentAt + TTL, is the session's. It is on the silo's clock; rather than
            // trust the two wall clocks to agree, measure it from creation: the silo stamped the session at
            // createdMs no earlier than _origin, so the silo's deadline falls no earlier than
            // _origin + (deadlineMs - createdMs) on the client's monotonic clock. Only a skew between the
            // two clocks' rates (or leaders' clocks) can make that late, and sentAt + TTL still caps it.
            var answered = TimeSpan.FromMilliseconds(deadlineMs - createdMs);
            renewed = answered < renewed ? answered : renewed;
        }

        renewed -= ClockMargin(Ttl);

        lock (_lock)
        {
            // An answer that repeats a deadline (a keep-alive answered without renewing) is no later than
            // when it was first answered: its later sentAt must not lift the cap. Measured from creation,
            // a deadline stamped by a leader whose clock runs ahead would otherwise outlive the silo's.
            if (deadlineMs == _answeredDeadlineMs)
            {
                renewed = renewed < _answeredLocal ? renewed : _answeredLocal;
            }
            else
            {
                (_answeredDeadlineMs, _answeredLocal) = (deadlineMs, renewed);
            }

            if (renewed > _deadline)
            {
                _deadline = renewed;
            }
        }
    }

    /// <summary>
    /// Acquires a lock, waiting up to <paramref name="wait"/> (30 s when null) in a long-poll. Dispose the
    /// handle to release it. <paramref name="permits"/> is the semaphore size (for <see cref="LockMode.Semaphore"/>).
    /// Cancelled or failed after the request went out, it abandons the lock (<see cref="AbandonLockAsync"/>)
    /// before throwing, so no wait or grant is left that this session's keep-alive would hold for nobody.
    /// </summary>
    /// <param name="readConfig">
    /// A config document to read with the grant (the data the lock guards), in <see cref="LockHandle.Config"/>:
    /// read by the granting silo once the grant was applied, so it holds every write of earlier holders;
    /// one round trip less than reading it after the grant.
    /// </param>
    /// <exception cref="CoordinationException"><c>lock-wait-timeout</c> when the wait ended without a grant; <c>lock-busy</c> when <paramref name="wait"/> is zero.</exception>
    public async Task<LockHandle> AcquireLockAsync(string name, LockMode mode = LockMode.Exclusive, TimeSpan? wait = null, int permits = 1, TimeSpan? maxHold = null, string? readConfig = null, CancellationToken cancellationToken = default)
    {
        var waitFor = wait ?? TimeSpan.FromSeconds(30);
        var granted = await _client.AcquireLockAsync(Id, name, mode, permits, waitFor, maxHold, readConfig, cancellationToken).ConfigureAwait(false)
            ?? throw new CoordinationException("lock-busy", 409, $"Lock '{name}' is busy.");
        return new LockHandle(this, name, mode, granted.Token, granted.Config);
    }

    /// <summary>
    /// Withdraws this session's wait on a lock, or releases its hold there (see <see cref="CoordinationClient.AbandonLockAsync"/>).
    /// The acquire methods do this on their own when they fail or are cancelled; call it after giving up some other way.
    /// </summary>
    public Task<LockAbandonment> AbandonLockAsync(string name, CancellationToken cancellationToken = default) =>
        _client.AbandonLockAsync(Id, name, cancellationToken);

    /// <summary>Tries a lock once: the handle when granted, null when busy.</summary>
    public async Task<LockHandle?> TryAcquireLockAsync(string name, LockMode mode = LockMode.Exclusive, int permits = 1, TimeSpan? maxHold = null, string? readConfig = null, CancellationToken cancellationToken = default)
    {
        var granted = await _client.AcquireLockAsync(Id, name, mode, permits, TimeSpan.Zero, maxHold, readConfig, cancellationToken).ConfigureAwait(false);
        return granted is null ? null : new LockHandle(this, name, mode, granted.Token, granted.Config);
    }

    /// <summary>Joins an election: leader (with a token) or queued at a position; returns at once.</summary>
    public Task<CampaignResult> CampaignAsync(string election, JsonElement? value = null, CancellationToken cancellationToken = default) =>
        _client.WriteAsync(
            HttpMethod.Post, $"v1/elections/{CoordinationRequest.Segment(election)}/campaign", new CampaignRequest(Id, value),
            CoordinationJsonContext.Default.CampaignRequest, CoordinationJsonContext.Default.CampaignResult, cancellationToken);

    /// <summary>
    /// Campaigns and returns once this session leads the election (watching its events while queued), with
    /// the leadership's fencing token. Cancelled when the session is lost. Cancelled or failed after the
    /// campaign may have reached a silo, it resigns (bounded, best effort) before rethrowing: a candidacy
    /// left queued would later become a leadership that nobody acts on, kept alive by the session.
    /// </summary>
    public async Task<long> CampaignUntilLeaderAsync(string election, JsonElement? value = null, CancellationToken cancellationToken = default)
    {
        try
        {
            var result = await CampaignAsync(election, value, cancellationToken).ConfigureAwait(false);
            if (result is { Leader: true, Token: { } token })
            {
                return token;
            }

            using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, SessionLost);
            await foreach (var observation in _client.ObserveElectionAsync(election, linked.Token).ConfigureAwait(false))
            {
                if (observation.LeaderSessionId == Id && observation.Token is { } leaderToken)
                {
                    return leaderToken;
                }
            }

            throw new InvalidOperationException("An election observation never ends on its own.");
        }
        catch (Exception e) when (CoordinationClient.MayHaveQueuedOrGranted(e))
        {
            await TryResignAsync(election).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary><see cref="ResignAsync"/> after a campaign given up on: bounded, not by the caller's token, never throwing.</summary>
    private async Task TryResignAsync(string election)
    {
        using var bound = new CancellationTokenSource(_client.Options.AttemptTimeout, _time);
        try
        {
            await ResignAsync(election, bound.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (CoordinationClient.BestEffortFailed(e, bound))
        {
            // Best effort (a lost session has no candidacy left): the campaign's failure is what the caller hears about.
        }
    }

    /// <summary>Leaves an election (as leader or candidate); true when this session was the leader.</summary>
    public async Task<bool> ResignAsync(string election, CancellationToken cancellationToken = default)
    {
        var resigned = await _client.WriteAsync(
            HttpMethod.Post, $"v1/elections/{CoordinationRequest.Segment(election)}/resign", new ResignRequest(Id),
            CoordinationJsonContext.Default.ResignRequest, CoordinationJsonContext.Default.Resigned, cancellationToken).ConfigureAwait(false);
        return resigned.WasLeader;
    }

    /// <summary>Joins a group as <paramref name="memberId"/>, or under a generated unique id when null; returns the member id.</summary>
    /// <exception cref="CoordinationException"><c>already-exists</c> when the id is taken.</exception>
    public Task<string> JoinGroupAsync(string group, string? memberId = null, JsonElement? metadata = null, CancellationToken cancellationToken = default) =>
        _client.JoinGroupAsync(Id, group, memberId, metadata, cancellationToken);

    /// <summary>
    /// Stops the keep-alive and ends the session on the cluster (releasing all it holds) unless it is already
    /// lost. Takes at most <see cref="CoordinationClientOptions.AttemptTimeout"/>; never throws for an unreachable cluster.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _stop.CancelAsync().ConfigureAwait(false);
        await _keepAlive.ConfigureAwait(false);
        if (LostBecause is null)
        {
            // Bounded: disposal must not hang on a cluster that is down; the session then expires after its TTL.
            using var bound = new CancellationTokenSource(_client.Options.AttemptTimeout, _time);
            try
            {
                await _client.DeleteSessionAsync(Id, bound.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (CoordinationClient.BestEffortFailed(e, bound))
            {
                // Gone already, or unreachable: either way it expires on its own after its TTL.
            }
        }

        _stop.Dispose();
    }

    private async Task KeepAliveLoopAsync(CancellationToken stop)
    {
        var interval = Ttl / 3;
        var delay = interval;
        while (true)
        {
            try
            {
                await Task.Delay(delay, _time, stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            var left = TimeLeft();
            if (left <= TimeSpan.Zero)
            {
                MarkLost("unreachable", null);
                return;
            }

            Exception? failure;
            try
            {
                // A keep-alive that is still out when the deadline passes is of no use: cancel it then. Each
                // attempt gets half the time left (at most AttemptTimeout), so one sent to a silo that keeps
                // silent (a leader's host gone without refusing) times out while a retry at another silo,
                // which finds the new leader, still has time to land.
                using var deadline = new CancellationTokenSource(left, _time);
                using var linked = CancellationTokenSource.CreateLinkedTokenSource(stop, deadline.Token);
                var attempt = left / 2 < _client.Options.AttemptTimeout ? left / 2 : _client.Options.AttemptTimeout;
                await KeepAliveAsync(attempt, linked.Token).ConfigureAwait(false);
                // After a slow answer less than a TTL may be left: renew again by half of it at the latest.
                var renewedLeft = TimeLeft();
                delay = renewedLeft / 2 < interval ? renewedLeft / 2 : interval;
                continue;
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (CoordinationException e) when (e.IsSessionGone)
            {
                return;
            }
            catch (Exception e)
            {
                // Whatever failed (unreachable, a malformed answer), only the deadline decides that the session is lost.
                failure = e;
            }

            // Unreachable for now: retry at half the time left, so the last try still has time to land,
            // and give up once that would be shorter than KeepAliveRetryDelayMin.
            left = TimeLeft();
            if (left / 2 < KeepAliveRetryDelayMin)
            {
                MarkLost("unreachable", failure);
                return;
            }

            delay = left / 2 < interval ? left / 2 : interval;
        }
    }

    /// <summary>How long the session surely lives from now, on the monotonic clock (negative once past).</summary>
    private TimeSpan TimeLeft()
    {
        var elapsed = _time.GetElapsedTime(_origin);
        lock (_lock)
        {
            return _deadline - elapsed;
        }
    }

    private void MarkLost(string reason, Exception? error)
    {
        var args = new SessionLostEventArgs(reason, error);
        lock (_lock)
        {
            if (_lostBecause is not null)
            {
                return;
            }

            _lostBecause = args;
        }

        _lost.Cancel();
        Lost?.Invoke(this, args);
    }
}
