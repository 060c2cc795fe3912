using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Coordination.Tests.Api;
using Coordination.Tests.Cluster;

namespace Coordination.Tests.Transactions;

/// <summary>
/// Two bank processes (the sample, a participant through the library) and a 3-silo coordinator
/// cluster, all real processes on loopback. Transfers move money from alice at bank A to carol at
/// bank B while a participant or the coordinator's leader crashes at each step of two-phase
/// commit. At the end every transaction is finished, no bank holds anything, the total is what it
/// was, and each bank's balance moved by exactly the committed transfers: none half applied.
/// </summary>
public sealed class BankCrashTests : IAsyncLifetime
{
    private const long Opening = 1_000, Amount = 10;
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(45);

    private SiloProcessCluster _cluster = null!;
    private BankProcess _a = null!, _b = null!;
    private readonly string _root = Path.Combine(Path.GetTempPath(), "coord-banks-" + Guid.NewGuid().ToString("N"));

    public async Task InitializeAsync()
    {
        _cluster = new SiloProcessCluster(3);
        await _cluster.LeaderAsync();
        var coordinator = string.Join(",", _cluster.Urls.Select(u => u.ToString().TrimEnd('/')));
        _a = await BankProcess.StartAsync(Path.Combine(_root, "a"), coordinator, $"alice={Opening}");
        _b = await BankProcess.StartAsync(Path.Combine(_root, "b"), coordinator, $"carol={Opening}");
    }

    public async Task DisposeAsync()
    {
        _a?.Dispose();
        _b?.Dispose();
        await _cluster.DisposeAsync();
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
        }
    }

    [Fact]
    public async Task Money_is_conserved_and_every_transfer_ends_decided_when_participants_and_the_coordinator_crash_at_every_step()
    {
        var expected = new Dictionary<string, string>();

        // A participant is down before the prepare reaches it: the coordinator keeps asking until it is back.
        _a.Kill();
        await Begin("a-down-before-prepare");
        await Until(async () => Participant(await View("a-down-before-prepare"), "bank-b").GetProperty("vote").GetString() == "commit", "bank B's vote");
        await _a.RestartAsync();
        expected["a-down-before-prepare"] = await WaitForFinished("a-down-before-prepare");

        // A participant crashes before its vote is journaled (the hold was written): restarted, it is asked again.
        await _b.Faults(prepare: "exit-before-vote");
        await Begin("b-exits-before-vote");
        await _b.WaitForExitAsync();
        await _b.RestartAsync();
        expected["b-exits-before-vote"] = await WaitForFinished("b-exits-before-vote");

        // A participant crashes after journaling its vote, before answering: the repeat gets the recorded vote.
        await _b.Faults(prepare: "exit-after-vote");
        await Begin("b-exits-after-vote");
        await _b.WaitForExitAsync();
        await _b.RestartAsync();
        expected["b-exits-after-vote"] = await WaitForFinished("b-exits-after-vote");

        // A participant applies commit and crashes before acknowledging: redelivery is acknowledged from its journal.
        await _a.Faults(commit: "exit-before-ack");
        await Begin("a-exits-before-ack");
        await _a.WaitForExitAsync();
        await _a.RestartAsync();
        expected["a-exits-before-ack"] = await WaitForFinished("a-exits-before-ack");

        // A participant is killed (SIGKILL) while it holds a prepared transaction and never hears the decision in time.
        await _b.Faults(commit: "fail");
        await Begin("b-killed-in-doubt");
        await Until(async () => (await View("b-killed-in-doubt")).GetProperty("state").GetString() == "committing", "b-killed-in-doubt to decide");
        _b.Kill();
        await _b.RestartAsync();
        expected["b-killed-in-doubt"] = await WaitForFinished("b-killed-in-doubt");

        // The coordinator's leader dies right after a begin.
        await Begin("leader-dies-after-begin");
        await KillLeaderAndRestart();
        expected["leader-dies-after-begin"] = await WaitForFinished("leader-dies-after-begin");

        // The leader dies after one vote, while the other participant's prepare hangs.
        await _b.Faults(prepare: "hang");
        await Begin("leader-dies-after-a-vote");
        await Until(async () => Participant(await View("leader-dies-after-a-vote"), "bank-a").GetProperty("vote").GetString() == "commit", "bank A's vote");
        await _b.Faults();
        await KillLeaderAndRestart();
        expected["leader-dies-after-a-vote"] = await WaitForFinished("leader-dies-after-a-vote");

        // The leader dies after the decision, before any delivery got through.
        await _a.Faults(commit: "fail");
        await _b.Faults(commit: "fail");
        await Begin("leader-dies-before-delivery");
        await Until(async () => (await View("leader-dies-before-delivery")).GetProperty("state").GetString() == "committing", "the commit decision");
        await _a.Faults();
        await _b.Faults();
        await KillLeaderAndRestart();
        expected["leader-dies-before-delivery"] = await WaitForFinished("leader-dies-before-delivery");

        // The leader dies during delivery: A acknowledged, B not yet.
        await _b.Faults(commit: "fail");
        await Begin("leader-dies-during-delivery");
        await Until(async () => Participant(await View("leader-dies-during-delivery"), "bank-a").GetProperty("acknowledged").GetBoolean(), "bank A's acknowledgement");
        await _b.Faults();
        await KillLeaderAndRestart();
        expected["leader-dies-during-delivery"] = await WaitForFinished("leader-dies-during-delivery");

        // A participant that never votes: presumed abort at the deadline, and the other side's hold is released.
        await _b.Faults(prepare: "hang");
        await Begin("b-never-votes", prepareTimeoutMs: 1_500);
        expected["b-never-votes"] = await WaitForFinished("b-never-votes");
        await _b.Faults();
        Assert.Equal("aborted", expected["b-never-votes"]);

        // An overdraft: bank A votes abort.
        await Begin("overdraft", amount: 10 * Opening);
        expected["overdraft"] = await WaitForFinished("overdraft");
        Assert.Equal("aborted", expected["overdraft"]);

        Assert.All(expected.Where(e => e.Key is not ("b-never-votes" or "overdraft")), e => Assert.True(e.Value == "committed", $"{e.Key} ended {e.Value}"));
        var committed = expected.Count(e => e.Value == "committed");
        var a = await _a.AccountsAsync();
        var b = await _b.AccountsAsync();
        Assert.Equal(0, a.GetProperty("holds").GetArrayLength());
        Assert.Equal(0, b.GetProperty("holds").GetArrayLength());
        Assert.Equal(2 * Opening, a.GetProperty("money").GetInt64() + b.GetProperty("money").GetInt64());
        Assert.Equal(Opening - (committed * Amount), a.GetProperty("balances").GetProperty("alice").GetInt64());
        Assert.Equal(Opening + (committed * Amount), b.GetProperty("balances").GetProperty("carol").GetInt64());
        foreach (var state in new[] { "preparing", "committing", "aborting" })
        {
            var open = await Retry(async c => await (await c.GetAsync($"/v1/distributed-transactions?state={state}")).Json(HttpStatusCode.OK));
            Assert.Equal(0, open.GetProperty("transactions").GetArrayLength());
        }
    }

    private Task Begin(string id, long amount = Amount, long prepareTimeoutMs = 60_000) =>
        Retry(async client => await (await client.Post("/v1/distributed-transactions", new
        {
            id,
            prepareTimeoutMs,
            participants = new[]
            {
                new { name = "bank-a", endpoint = _a.Url + "/tx", work = new { account = "alice", delta = -amount } },
                new { name = "bank-b", endpoint = _b.Url + "/tx", work = new { account = "carol", delta = amount } },
            },
        })).Json(HttpStatusCode.Accepted));

    private async Task KillLeaderAndRestart()
    {
        var leader = await _cluster.LeaderAsync();
        _cluster.Kill(leader);
        await _cluster.LeaderAsync(except: leader);
        _cluster.Start(leader);
    }

    private Task<JsonElement> View(string id) => Retry(async client => await (await client.GetAsync($"/v1/distributed-transactions/{id}")).Json(HttpStatusCode.OK));

    private static JsonElement Participant(JsonElement view, string name) =>
        view.GetProperty("participants").EnumerateArray().Single(p => p.GetProperty("name").GetString() == name);

    /// <summary>Waits until every participant acknowledged; returns "committed" or "aborted".</summary>
    private async Task<string> WaitForFinished(string id)
    {
        string? state = null;
        await Until(async () => (state = (await View(id)).GetProperty("state").GetString()) is "committed" or "aborted", $"{id} to finish");
        return state!;
    }

    private static Task Until(Func<Task<bool>> condition, string what = "the condition") => ClusterCalls.Until(condition, what, Patience);

    private Task<T> Retry<T>(Func<HttpClient, Task<T>> attempt) => _cluster.Retry(attempt);

    /// <summary>One sample bank process on a free loopback port, restartable with its data.</summary>
    private sealed class BankProcess : IDisposable
    {
        private readonly string _dataDirectory;
        private readonly string _coordinator;
        private readonly string _accounts;
        private readonly int _port = SiloFactory.FreePort();
        private readonly HttpClient _http;
        private Process? _process;

        private BankProcess(string dataDirectory, string coordinator, string accounts)
        {
            (_dataDirectory, _coordinator, _accounts) = (dataDirectory, coordinator, accounts);
            _http = new HttpClient { BaseAddress = new Uri(Url), Timeout = TimeSpan.FromSeconds(5) };
        }

        public string Url => $"http://127.0.0.1:{_port}";

        public static async Task<BankProcess> StartAsync(string dataDirectory, string coordinator, string accounts)
        {
            var bank = new BankProcess(dataDirectory, coordinator, accounts);
            await bank.RestartAsync();
            return bank;
        }

        public async Task RestartAsync()
        {
            var dll = Path.Combine(AppContext.BaseDirectory, "Coordination.Samples.Bank.dll");
            var info = new ProcessStartInfo("dotnet")
            {
                ArgumentList = { dll, "--urls", Url, "--data-dir", _dataDirectory, "--coordinator", _coordinator, "--accounts", _accounts, "--enable-fault-hooks" },
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                WorkingDirectory = AppContext.BaseDirectory,
            };
            info.Environment["Logging__LogLevel__Default"] = "Warning";
            _process = Process.Start(info) ?? throw new InvalidOperationException("dotnet did not start");
            _process.OutputDataReceived += (_, _) => { };
            _process.ErrorDataReceived += (_, _) => { };
            _process.BeginOutputReadLine();
            _process.BeginErrorReadLine();
            await Until(async () =>
            {
                try
                {
                    return (await _http.GetAsync("/accounts")).IsSuccessStatusCode;
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
                {
                    return false;
                }
            }, $"the bank at {Url} to serve");
        }

        public async Task Faults(string? prepare = null, string? commit = null) =>
            (await _http.PostAsJsonAsync("/faults", new { prepare, commit })).EnsureSuccessStatusCode();

        public async Task<JsonElement> AccountsAsync() => await (await _http.GetAsync("/accounts")).Json(HttpStatusCode.OK);

        /// <summary>Waits for the process to crash itself at a fault hook (exit code 70).</summary>
        public async Task WaitForExitAsync()
        {
            using var timeout = new CancellationTokenSource(Patience);
            await _process!.WaitForExitAsync(timeout.Token);
            Assert.Equal(70, _process.ExitCode);
        }

        public void Kill()
        {
            _process?.Kill(entireProcessTree: true);
            _process?.WaitForExit(10_000);
        }

        public void Dispose()
        {
            if (_process is { HasExited: false })
            {
                Kill();
            }

            _process?.Dispose();
            _http.Dispose();
        }
    }
}
