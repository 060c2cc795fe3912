using Coordination.Api;
using Coordination.Consensus;
using Coordination.Grains;
using Coordination.Silo.Grains;

namespace Coordination.Silo;

/// <summary>The REST gateway's view of this silo: commands go through the Raft host, queries run on its loop.</summary>
public sealed class SiloGateway(SiloRuntime silo, MemberSurvey survey, TimeProvider time) : ICoordinationGateway
{
    public LeaderAddress? Leader
    {
        get
        {
            var status = silo.Host.Status;
            return status.Leader != 0 && status.Leader != status.NodeId && silo.AddressOf(status.Leader) is { } leader
                ? new LeaderAddress(new Uri(leader.ClientUrl), leader.Http2Url is { } http2Url ? new Uri(http2Url) : null)
                : null;
        }
    }

    public async Task<(CommandResult Result, ulong Revision)> ExecuteAsync(Command command, string? idempotencyKey, CancellationToken cancellation)
    {
        if (command is RenewSession renew && await TryCoalesceKeepAlive(renew, cancellation) is { } coalesced)
        {
            return coalesced;
        }

        // Nothing the decoder would refuse may enter the log: an undecodable entry would stop every
        // replica when applied. So every command is checked by decoding it here, before proposing.
        var encoded = CommandCodec.Encode(command);
        if (encoded.Length > Limits.CommandBytesMax)
        {
            return (new Rejected(ErrorCode.LimitExceeded, $"The request encodes to {encoded.Length} bytes; at most {Limits.CommandBytesMax} (CommandBytesMax) fit in one command."), silo.State.AppliedIndex);
        }

        try
        {
            CommandCodec.Decode(encoded);
        }
        catch (CorruptDataException e)
        {
            return (new Rejected(ErrorCode.InvalidArgument, e.Message), silo.State.AppliedIndex);
        }

        if (CommandChecks.OfValues(command) is { } refused)
        {
            return (refused, silo.State.AppliedIndex);
        }

        if (CommandCodec.LevelOf(command) is var needed && survey.Effective is var level && needed > level)
        {
            return (new Rejected(ErrorCode.HeldBack, $"{command.GetType().Name} is held back: it needs command level {needed}, and this silo proposes up to {level} ({survey.HeldBackBy(needed)})."), silo.State.AppliedIndex);
        }

        var payload = RequestEnvelope.Encode(idempotencyKey, encoded);
        var applied = (AppliedRequest)(await Translate(silo.Host.ProposeAsync(payload, cancellation), timeout: m => new CommitTimeoutException(m)))!;
        return (applied.Result, applied.Revision);
    }

    /// <summary>Turns the Raft host's refusals into the gateway's (which the API maps to 503 and 504).</summary>
    private static async Task<T> Translate<T>(Task<T> work, Func<string, Exception> timeout)
    {
        try
        {
            return await work;
        }
        catch (Exception e) when (e is Hosting.NotLeaderException or Hosting.ProposalDroppedException)
        {
            throw new NoLeaderException(e.Message);
        }
        catch (Hosting.OverloadedException e)
        {
            throw new Api.OverloadedException(e.Message);
        }
        catch (TimeoutException e)
        {
            throw timeout(e.Message);
        }
    }

    /// <summary>
    /// Keep-alives without a log write where that is safe: when the committed deadline (read
    /// linearizably, so it is the cluster's, not a stale copy) is still more than half a TTL away,
    /// the session is answered with that deadline. Clients renew every third of a TTL, so at most
    /// every other keep-alive is written.
    /// </summary>
    private async Task<(CommandResult, ulong)?> TryCoalesceKeepAlive(RenewSession renew, CancellationToken cancellation)
    {
        if (silo.Host.Status.Role != RaftRole.Leader)
        {
            return null;
        }

        var (session, meta) = await ReadAsync(sm => sm.GetSession(renew.SessionId), ReadConsistency.Linearizable, cancellation);
        var now = silo.Host.ClockNowMs();
        return session is not null && session.DeadlineMs - now > session.TtlMs / 2
            ? (new SessionRenewed(session.SessionId, session.DeadlineMs), meta.AppliedIndex)
            : null;
    }

    public async Task<(T Value, ReadMeta Meta)> ReadAsync<T>(Func<CoordinationStateMachine, T> query, ReadConsistency consistency, CancellationToken cancellation)
    {
        var linearizable = consistency == ReadConsistency.Linearizable;
        return await Translate(silo.Host.QueryAsync(() =>
        {
            long? contact = SinceLeaderContact is { } since ? (long)since.TotalMilliseconds : null;
            return (query(silo.State.Grains), new ReadMeta(silo.State.AppliedIndex, !linearizable, contact));
        }, linearizable, cancellation), timeout: m => new NoLeaderException(m));
    }

    public async Task WaitForRevisionAsync(ulong afterRevision, CancellationToken cancellation)
    {
        for (var round = 0; round < int.MaxValue; round++)
        {
            // Take the signal before checking, so an apply between the two cannot be missed.
            var signal = silo.Host.NextApplied;
            if (silo.State.AppliedIndex > afterRevision)
            {
                return;
            }

            await signal.WaitAsync(cancellation);
        }
    }

    public IGrainEventSubscription Subscribe(GrainKind kind, string name, ulong sessionId = 0) => silo.State.Signals.Subscribe(kind, name, sessionId);

    public TimeSpan? SinceLeaderContact => silo.Host.Status switch
    {
        { Role: RaftRole.Leader } => TimeSpan.Zero,
        { LastLeaderContact: 0 } => null,
        var status => time.GetElapsedTime(status.LastLeaderContact),
    };

    public TimeSpan LeaderSilenceMax { get; } = TimeSpan.FromMilliseconds(Math.Max(3_000L, 2L * 2 * silo.Options.ElectionTicks * silo.Options.TickMs));

    public ClusterView Cluster()
    {
        var status = silo.Host.Status;
        var members = status.Membership.All.Select(id => silo.AddressOf(id) is { } a
            ? new ClusterMember(id, a.ClientUrl, a.PeerAddress, status.Membership.IsVoter(id), a.Http2Url)
            : new ClusterMember(id, null, null, status.Membership.IsVoter(id))).ToArray();
        return new ClusterView(
            status.NodeId,
            status.Role.ToString().ToLowerInvariant(),
            status.Term,
            status.Leader,
            status.CommitIndex,
            status.AppliedIndex,
            status.FirstIndex,
            status.LastIndex,
            [.. status.Membership.Voters],
            [.. status.Membership.Learners],
            members,
            Ready: status.Leader != 0 && status.AppliedIndex >= status.CommitIndex,
            Replication: status.Replication?.ToDictionary(p => p.Id, p => p.ToString()))
        {
            DecodeLevel = CommandCodec.LevelCurrent,
            CommandLevel = survey.Effective,
            ClockMs = time.GetUtcNow().ToUnixTimeMilliseconds(),
        };
    }
}
