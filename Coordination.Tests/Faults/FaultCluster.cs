using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using Coordination.Consensus;
using Coordination.Tests.Api;
using Coordination.Tests.Cluster;

namespace Coordination.Tests.Faults;

/// <summary>
/// Silo processes whose every directed peer link runs through a <see cref="LinkProxy"/>, with the
/// faults the harness injects: kill -9 and restart, SIGSTOP/SIGCONT, and partitions as sets of
/// blocked links. Dispose resumes, kills and deletes everything, also after a failure.
/// Called from one test thread (the nemesis); the workload only reads <see cref="Url"/>.
/// </summary>
public sealed class FaultCluster : IAsyncDisposable
{
    private const string SigStop = "-STOP";
    private const string SigCont = "-CONT";
    private static readonly TimeSpan LeaderWaitMax = TimeSpan.FromSeconds(30);

    private readonly Dictionary<(ulong From, ulong To), LinkProxy> _links = [];
    private readonly Dictionary<ulong, InboundProxy> _inbound = [];
    private readonly Dictionary<ulong, (int Client, int Peer)> _ports;
    private readonly HashSet<ulong> _founders;
    private readonly HashSet<ulong> _paused = [];
    private readonly SiloProcessCluster _silos;
    private ulong[] _members;
    private ulong[] _serving;
    private ulong _lastId;

    public FaultCluster(int size)
    {
        // The founders' own members lists name the founders only (frozen here); silos added later are
        // learned from the replicated address book.
        var ports = Enumerable.Range(1, size).ToDictionary(id => (ulong)id, _ => (Client: SiloFactory.FreePort(), Peer: SiloFactory.FreePort()));
        _ports = new(ports);
        foreach (var from in ports.Keys)
        {
            foreach (var to in ports.Keys.Where(to => to != from))
            {
                _links[(from, to)] = new LinkProxy(ports[to].Peer);
            }
        }

        _founders = [.. ports.Keys];
        _members = [.. ports.Keys];
        _serving = _members;
        _lastId = (ulong)size;
        _silos = new SiloProcessCluster(ports, self => SiloProcessCluster.MembersList(ports, (s, to) => s == to ? ports[to].Peer : _links[(s, to)].Port, self));
    }

    /// <summary>The silos that are members of the cluster now, in id order (a snapshot; any thread may read it).</summary>
    public IReadOnlyList<ulong> Ids => Volatile.Read(ref _members);

    /// <summary>The members clients may use: every member but one being removed (a snapshot; any thread).</summary>
    public IReadOnlyList<ulong> Serving => Volatile.Read(ref _serving);

    public Uri Url(ulong id) => _silos.Url(id);

    /// <summary>Silos that run and are not paused: the ones that can answer.</summary>
    public IEnumerable<ulong> Live => Ids.Where(id => _silos.IsRunning(id) && !_paused.Contains(id));

    /// <summary>
    /// Starts a new, empty silo with --join under a new id: its links to the founders run through
    /// their own proxies (its members list names them), every silo reaches it through one
    /// <see cref="InboundProxy"/>, whose address is the one to add it with. It is not a member
    /// until <see cref="Admit"/>.
    /// </summary>
    public (ulong Id, string ClientUrl, string PeerAddress) StartNewcomer()
    {
        var id = ++_lastId;
        var ports = (Client: SiloFactory.FreePort(), Peer: SiloFactory.FreePort());
        _ports[id] = ports;
        _inbound[id] = new InboundProxy(ports.Peer);
        var known = new Dictionary<ulong, (int Client, int Peer)> { [id] = ports };
        foreach (var member in Ids)
        {
            known[member] = _ports[member];
            if (_founders.Contains(member))
            {
                _links[(id, member)] = new LinkProxy(_ports[member].Peer);
            }
        }

        var members = SiloProcessCluster.MembersList(known, (_, to) => to == id ? ports.Peer : _founders.Contains(to) ? _links[(id, to)].Port : _inbound[to].Port);
        _silos.StartJoining(id, ports, members);
        return (id, $"http://127.0.0.1:{ports.Client}", $"127.0.0.1:{_inbound[id].Port}");
    }

    /// <summary>The silo is a voter now: faults and clients use it.</summary>
    public void Admit(ulong id) => SetMembers([.. Ids.Append(id).Distinct().Order()], Serving.Append(id).Distinct().Order());

    /// <summary>Clients stop using the silo (it is about to be removed); faults still reach it.</summary>
    public void Retire(ulong id) => SetMembers(Ids, Serving.Where(s => s != id));

    /// <summary>The silo was removed from the cluster: kill it, as an operator stops a removed silo.</summary>
    public void Drop(ulong id)
    {
        Kill(id);
        SetMembers([.. Ids.Where(m => m != id)], Serving.Where(s => s != id));
    }

    private void SetMembers(IReadOnlyList<ulong> members, IEnumerable<ulong> serving)
    {
        Volatile.Write(ref _members, [.. members]);
        Volatile.Write(ref _serving, [.. serving.Where(members.Contains)]);
    }

    public void Kill(ulong id)
    {
        Resume(id);
        _silos.Kill(id);
    }

    public void Restart(ulong id)
    {
        if (!_silos.IsRunning(id))
        {
            _silos.Start(id);
        }
    }

    /// <summary>SIGSTOP: the process stops mid-whatever, sockets stay open, its clock keeps going.</summary>
    public void Pause(ulong id)
    {
        if (_silos.IsRunning(id) && _paused.Add(id))
        {
            Invariant.Require(Signal(_silos.ProcessId(id), SigStop) == 0, "SIGSTOP delivered");
        }
    }

    public void Resume(ulong id)
    {
        if (_paused.Remove(id) && _silos.IsRunning(id))
        {
            Invariant.Require(Signal(_silos.ProcessId(id), SigCont) == 0, "SIGCONT delivered");
        }
    }

    /// <summary>Cuts the directed link <paramref name="from"/>→<paramref name="to"/>.</summary>
    public void Cut(ulong from, ulong to)
    {
        if (_inbound.TryGetValue(to, out var inbound))
        {
            inbound.Block(from);
        }
        else
        {
            _links[(from, to)].Block();
        }
    }

    /// <summary>Cuts both directions between every silo of <paramref name="side"/> and every other silo.</summary>
    public void Isolate(IReadOnlyCollection<ulong> side)
    {
        foreach (var a in side)
        {
            foreach (var b in Ids.Where(b => !side.Contains(b)))
            {
                Cut(a, b);
                Cut(b, a);
            }
        }
    }

    /// <summary>Ring: each silo keeps only its two neighbours in id order.</summary>
    public void Ring()
    {
        var ids = Ids;
        for (var i = 0; i < ids.Count; i++)
        {
            for (var j = 0; j < ids.Count; j++)
            {
                var distance = Math.Abs(i - j);
                if (i != j && distance != 1 && distance != ids.Count - 1)
                {
                    Cut(ids[i], ids[j]);
                }
            }
        }
    }

    public void HealNetwork()
    {
        foreach (var link in _links.Values)
        {
            link.Unblock();
        }

        foreach (var inbound in _inbound.Values)
        {
            inbound.UnblockAll();
        }
    }

    /// <summary>Heals everything: network, pauses, and restarts every killed silo.</summary>
    public void HealAll()
    {
        HealNetwork();
        foreach (var id in Ids)
        {
            Resume(id);
            Restart(id);
        }
    }

    /// <summary>The leader named with the highest term by the live silos that answer within a second, or 0.</summary>
    public async Task<ulong> CurrentLeaderAsync()
    {
        var best = (Term: 0UL, Leader: 0UL);
        foreach (var id in Live.ToList())
        {
            try
            {
                using var client = new HttpClient { BaseAddress = Url(id), Timeout = TimeSpan.FromSeconds(1) };
                var cluster = await client.GetFromJsonAsync<JsonElement>("/v1/cluster");
                var (term, leader) = (cluster.GetProperty("term").GetUInt64(), cluster.GetProperty("leader").GetUInt64());
                if (leader != 0 && term >= best.Term)
                {
                    best = (term, leader);
                }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
            }
        }

        return best.Leader;
    }

    /// <summary>Waits (bounded) until every live silo names the same live leader and is ready.</summary>
    public async Task<ulong> StableLeaderAsync()
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < LeaderWaitMax)
        {
            var views = new List<ulong>();
            foreach (var id in Live.ToList())
            {
                try
                {
                    using var client = new HttpClient { BaseAddress = Url(id), Timeout = TimeSpan.FromSeconds(1) };
                    var ready = await client.GetAsync("/readyz");
                    var cluster = await client.GetFromJsonAsync<JsonElement>("/v1/cluster");
                    views.Add(ready.IsSuccessStatusCode ? cluster.GetProperty("leader").GetUInt64() : 0);
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
                {
                    views.Add(0);
                }
            }

            if (views.Count > 0 && views[0] != 0 && views.All(v => v == views[0]) && Live.Contains(views[0]))
            {
                return views[0];
            }

            await Task.Delay(100);
        }

        throw new TimeoutException($"the live silos did not agree on a ready leader within {LeaderWaitMax}");
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var id in _paused.ToList())
        {
            Resume(id);
        }

        await _silos.DisposeAsync();
        foreach (var link in _links.Values)
        {
            await link.DisposeAsync();
        }

        foreach (var inbound in _inbound.Values)
        {
            await inbound.DisposeAsync();
        }
    }

    // kill(1) rather than P/Invoke: nothing unsafe in the test project, and the exit code says whether it worked.
    private static int Signal(int pid, string signal)
    {
        using var kill = Process.Start(new ProcessStartInfo("kill", [signal, pid.ToString(System.Globalization.CultureInfo.InvariantCulture)])) ?? throw new InvalidOperationException("kill did not start");
        Invariant.Require(kill.WaitForExit(5_000), "kill(1) returns");
        return kill.ExitCode;
    }
}
