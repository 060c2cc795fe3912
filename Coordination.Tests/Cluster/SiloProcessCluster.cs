using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using Coordination.Tests.Api;

namespace Coordination.Tests.Cluster;

/// <summary>
/// Real silo processes on free loopback ports, each with its own data directory: the executable the
/// README runs, started with <c>dotnet Coordination.Silo.dll</c>. Kill is SIGKILL. Every process and
/// directory is removed on dispose; every wait is bounded.
/// </summary>
public sealed class SiloProcessCluster : IAsyncDisposable
{
    private static readonly TimeSpan WaitMax = TimeSpan.FromSeconds(30);
    private readonly string _root = Path.Combine(Path.GetTempPath(), "coord-cluster-" + Guid.NewGuid().ToString("N"));
    private readonly Dictionary<ulong, Process?> _processes = [];
    // The last lines each silo printed (warnings and errors), for failure messages.
    private readonly System.Collections.Concurrent.ConcurrentQueue<string> _output = new();
    // Concurrent: the fault harness adds silos while clients read URLs.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<ulong, (int Client, int Peer)> _ports = new();
    private readonly Func<ulong, string> _membersOf;
    private readonly string[] _arguments;

    /// <summary>
    /// Silos 1..<paramref name="size"/> on free ports, every one with the same members list;
    /// <paramref name="arguments"/> go on every silo's command line (e.g. <c>--restore-from file</c>).
    /// </summary>
    public SiloProcessCluster(int size, params string[] arguments)
        : this(Enumerable.Range(1, size).ToDictionary(id => (ulong)id, _ => (SiloFactory.FreePort(), SiloFactory.FreePort())), null, arguments)
    {
    }

    /// <summary>
    /// Silos on the given ports. <paramref name="membersOf"/> gives each silo its own `--members`
    /// list (a silo dials its peers at the addresses in its own list, so a list can route a link
    /// through a proxy); by default every silo gets the real addresses.
    /// </summary>
    public SiloProcessCluster(IReadOnlyDictionary<ulong, (int Client, int Peer)> ports, Func<ulong, string>? membersOf, params string[] arguments)
    {
        _arguments = arguments;
        foreach (var (id, port) in ports)
        {
            _ports[id] = port;
        }

        var members = MembersList(_ports, (_, to) => _ports[to].Peer);
        _membersOf = membersOf ?? (_ => members);
        foreach (var id in _ports.Keys)
        {
            Start(id);
        }
    }

    /// <summary>A `--members` value: every silo's real client port, and the peer port <paramref name="peerPort"/>(self, peer) gives.</summary>
    public static string MembersList(IReadOnlyDictionary<ulong, (int Client, int Peer)> ports, Func<ulong, ulong, int> peerPort, ulong self = 0) =>
        string.Join(",", ports.Select(p => $"{p.Key}=127.0.0.1:{p.Value.Client}:{peerPort(self, p.Key)}"));

    /// <summary>The operating-system process id of a running silo.</summary>
    public int ProcessId(ulong id) => _processes.GetValueOrDefault(id)?.Id ?? throw new InvalidOperationException($"silo {id} is not running");

    public IReadOnlyCollection<ulong> Ids => [.. _ports.Keys.Order()];

    // Silos started with --join, and the members list each was given (the founders plus itself).
    private readonly Dictionary<ulong, string> _joining = [];

    /// <summary>
    /// Starts a new, empty silo that waits to be added to the cluster (an id already used here is a
    /// replacement: its old data directory is deleted first); returns its (client URL, peer address).
    /// </summary>
    public (string ClientUrl, string PeerAddress) StartJoining(ulong id)
    {
        Kill(id);
        var data = Path.Combine(_root, $"silo-{id}");
        if (Directory.Exists(data))
        {
            Directory.Delete(data, recursive: true);
        }

        _ports[id] = (SiloFactory.FreePort(), SiloFactory.FreePort());
        _joining[id] = MembersList(_ports, (_, to) => _ports[to].Peer);
        Start(id);
        return ($"http://127.0.0.1:{_ports[id].Client}", $"127.0.0.1:{_ports[id].Peer}");
    }

    /// <summary>
    /// Starts a new, empty silo <paramref name="id"/> with --join on the given ports and with its own
    /// `--members` list (which may route its links through proxies); it waits to be added.
    /// </summary>
    public void StartJoining(ulong id, (int Client, int Peer) ports, string members)
    {
        Coordination.Consensus.Invariant.Require(!_ports.ContainsKey(id), "a joining silo with explicit ports has a new id");
        _ports[id] = ports;
        _joining[id] = members;
        Start(id);
    }

    public HttpClient Client(ulong id) => new() { BaseAddress = Url(id), Timeout = TimeSpan.FromSeconds(30) };

    public Uri Url(ulong id) => new($"http://127.0.0.1:{_ports[id].Client}");

    public IEnumerable<Uri> Urls => _ports.Keys.Select(Url);

    private void Remember(ulong id, string? line)
    {
        if (line is null)
        {
            return;
        }

        _output.Enqueue($"silo {id}: {line}");
        while (_output.Count > 40 && _output.TryDequeue(out _))
        {
        }
    }

    public string DataDirectory(ulong id) => Path.Combine(_root, $"silo-{id}");

    public bool IsRunning(ulong id) => _processes.GetValueOrDefault(id) is { HasExited: false };

    public void Start(ulong id)
    {
        if (IsRunning(id))
        {
            // A second process would be refused the data directory, and the first would be lost track of.
            throw new InvalidOperationException($"silo {id} is already running");
        }

        var dll = Path.Combine(AppContext.BaseDirectory, "Coordination.Silo.dll");
        var info = new ProcessStartInfo("dotnet")
        {
            ArgumentList = { dll, "--node-id", id.ToString(System.Globalization.CultureInfo.InvariantCulture), "--data-dir", Path.Combine(_root, $"silo-{id}"), "--members", _joining.GetValueOrDefault(id) ?? _membersOf(id), "--tick-ms", "20" },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = AppContext.BaseDirectory,
        };
        foreach (var argument in _arguments)
        {
            info.ArgumentList.Add(argument);
        }

        if (_joining.ContainsKey(id))
        {
            info.ArgumentList.Add("--join");
            info.ArgumentList.Add("true");
        }

        info.Environment["Logging__LogLevel__Default"] = "Warning";
        var process = Process.Start(info) ?? throw new InvalidOperationException("dotnet did not start");
        process.OutputDataReceived += (_, line) => Remember(id, line.Data);
        process.ErrorDataReceived += (_, line) => Remember(id, line.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _processes[id] = process;
    }

    /// <summary>kill -9: no shutdown, no leadership transfer, unsynced data lost.</summary>
    public void Kill(ulong id)
    {
        if (_processes.GetValueOrDefault(id) is { } process)
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit(WaitMax);
            process.Dispose();
            _processes[id] = null;
        }
    }

    /// <summary>The id of the silo every running silo names as leader, once they agree (bounded wait).</summary>
    public async Task<ulong> LeaderAsync(ulong except = 0)
    {
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < WaitMax)
        {
            var views = new List<ulong>();
            foreach (var id in _ports.Keys.Where(IsRunning))
            {
                try
                {
                    using var client = Client(id);
                    client.Timeout = TimeSpan.FromSeconds(1);
                    var cluster = await client.GetFromJsonAsync<JsonElement>("/v1/cluster");
                    views.Add(cluster.GetProperty("leader").GetUInt64());
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
                {
                    views.Add(0);
                }
            }

            if (views.Count > 0 && views.All(v => v == views[0]) && views[0] != 0 && views[0] != except && IsRunning(views[0]))
            {
                return views[0];
            }

            await Task.Delay(50);
        }

        throw new TimeoutException($"the silos did not agree on a leader within {WaitMax}; their last output:{Environment.NewLine}{string.Join(Environment.NewLine, _output)}");
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var id in _ports.Keys)
        {
            Kill(id);
        }

        await Task.Yield();
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
        }
    }
}
