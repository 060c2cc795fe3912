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
    private readonly HashSet<ulong> _paused = [];
    private readonly SiloProcessCluster _silos;

    public FaultCluster(int size)
    {
        var ports = Enumerable.Range(1, size).ToDictionary(id => (ulong)id, _ => (Client: SiloFactory.FreePort(), Peer: SiloFactory.FreePort()));
        foreach (var from in ports.Keys)
        {
            foreach (var to in ports.Keys.Where(to => to != from))
            {
                _links[(from, to)] = new LinkProxy(ports[to].Peer);
            }
        }

        Ids = [.. ports.Keys];
        _silos = new SiloProcessCluster(ports, self => SiloProcessCluster.MembersList(ports, (s, to) => s == to ? ports[to].Peer : _links[(s, to)].Port, self));
    }

    public IReadOnlyList<ulong> Ids { get; }

    public Uri Url(ulong id) => _silos.Url(id);

    /// <summary>Silos that run and are not paused: the ones that can answer.</summary>
    public IEnumerable<ulong> Live => Ids.Where(id => _silos.IsRunning(id) && !_paused.Contains(id));

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
    public void Cut(ulong from, ulong to) => _links[(from, to)].Block();

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
        for (var i = 0; i < Ids.Count; i++)
        {
            for (var j = 0; j < Ids.Count; j++)
            {
                var distance = Math.Abs(i - j);
                if (i != j && distance != 1 && distance != Ids.Count - 1)
                {
                    Cut(Ids[i], Ids[j]);
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
    }

    // kill(1) rather than P/Invoke: nothing unsafe in the test project, and the exit code says whether it worked.
    private static int Signal(int pid, string signal)
    {
        using var kill = Process.Start(new ProcessStartInfo("kill", [signal, pid.ToString(System.Globalization.CultureInfo.InvariantCulture)])) ?? throw new InvalidOperationException("kill did not start");
        Invariant.Require(kill.WaitForExit(5_000), "kill(1) returns");
        return kill.ExitCode;
    }
}
