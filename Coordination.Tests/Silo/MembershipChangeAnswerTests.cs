using System.Net;
using Coordination.Consensus;
using Coordination.Silo.Hosting;
using Coordination.Silo.Transport;
using Coordination.Tests.Faults;
using Microsoft.Extensions.Logging.Abstractions;

namespace Coordination.Tests.Silo;

/// <summary>
/// Found by the fault tests (issue 6, random schedule seed 7): a leader cut off from the others
/// accepted a membership change, lost leadership, and answered the operator "accepted" once it
/// applied a new leader's entry at the same index. Three hosts in one process, every directed link
/// through a <see cref="LinkProxy"/>; real time, bounded waits.
/// </summary>
public sealed class MembershipChangeAnswerTests : IAsyncLifetime
{
    private static readonly TimeSpan WaitMax = TimeSpan.FromSeconds(20);
    private readonly Dictionary<ulong, (RaftHost Host, PeerTransport Transport)> _silos = [];
    private readonly Dictionary<(ulong From, ulong To), LinkProxy> _links = [];

    public Task InitializeAsync()
    {
        var members = new Membership([1, 2, 3], []);
        foreach (var id in members.Voters)
        {
            var log = new MemoryLogStorage();
            RaftNode.Bootstrap(log, members);
            RaftHost? host = null;
            var transport = new PeerTransport(id, m => host!.Receive(m), new PeerTransportOptions(), NullLogger.Instance);
            transport.Listen(new IPEndPoint(IPAddress.Loopback, 0));
            host = new RaftHost(new RaftHostOptions { NodeId = id, TickInterval = TimeSpan.FromMilliseconds(20) }, log, new CounterStateMachine(), transport.Send, TimeProvider.System, NullLogger.Instance);
            _silos[id] = (host, transport);
        }

        foreach (var (id, silo) in _silos)
        {
            foreach (var (peer, other) in _silos.Where(p => p.Key != id))
            {
                var link = new LinkProxy(other.Transport.ListenEndpoint!.Port);
                _links[(id, peer)] = link;
                silo.Transport.SetPeer(peer, $"127.0.0.1:{link.Port}");
            }

            silo.Host.Start();
        }

        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        foreach (var silo in _silos.Values)
        {
            await silo.Host.DisposeAsync();
            await silo.Transport.DisposeAsync();
        }

        foreach (var link in _links.Values)
        {
            await link.DisposeAsync();
        }
    }

    private static async Task Until(Func<bool> condition, string what)
    {
        using var timeout = new CancellationTokenSource(WaitMax);
        while (!condition())
        {
            await Task.Delay(10, timeout.Token).ContinueWith(t => Assert.False(t.IsCanceled, $"waited {WaitMax} for {what}"), TaskScheduler.Default);
        }
    }

    private RaftHost? Leader(ulong except = 0) =>
        _silos.Values.Select(s => s.Host).FirstOrDefault(h => h.Status.Role == RaftRole.Leader && h.Status.NodeId != except);

    [Fact]
    public async Task A_membership_change_accepted_by_a_cut_off_leader_and_overwritten_by_the_next_is_not_answered_as_applied()
    {
        await Until(() => Leader() is not null, "a leader");
        var old = Leader()!;
        await old.ProposeAsync(CounterStateMachine.Command(1)).WaitAsync(WaitMax);
        var oldId = old.Status.NodeId;
        var follower = _silos.Keys.First(id => id != oldId);

        foreach (var ((from, to), link) in _links.Where(l => l.Key.From == oldId || l.Key.To == oldId))
        {
            link.Block();
        }

        var change = old.ChangeMembershipAsync(MembershipChangeKind.RemoveMember, follower);
        await Until(() => change.IsCompleted || !old.Status.Membership.IsVoter(follower), "the cut-off leader to append the change");
        Assert.False(change.IsCompleted, $"the cut-off leader answered {(change.IsCompleted ? await change : default)} before it could commit");

        // The other two elect a leader whose entries replace the cut-off leader's uncommitted change.
        await Until(() => Leader(except: oldId) is not null, "a new leader");
        var next = Leader(except: oldId)!;
        await next.ProposeAsync(CounterStateMachine.Command(2)).WaitAsync(WaitMax);
        foreach (var link in _links.Values)
        {
            link.Unblock();
        }

        var answer = await change.WaitAsync(WaitMax);
        await Until(() => old.Status.AppliedIndex >= next.Status.CommitIndex, "the old leader to catch up");
        Assert.True(next.Status.Membership.IsVoter(follower), "the change was overwritten: the follower is still a voter");
        Assert.True(old.Status.Membership.IsVoter(follower), "the old leader reverted to the committed membership");
        Assert.Equal(ProposalResult.NotLeader, answer);
    }
}
