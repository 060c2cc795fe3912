using System.CommandLine;
using System.Text.Json;
using Coordination.Cli;
using Coordination.Client;
using Coordination.Client.Transactions;
using Coordination.Tests.Api;

namespace Coordination.Tests.Transactions;

/// <summary>The client's internal transactions and <c>coord txn</c> against one real silo in process (<see cref="SiloFactory"/>).</summary>
public sealed class TransactionClientIntegrationTests(SiloFactory silo) : IClassFixture<SiloFactory>
{
    private static readonly TimeSpan WaitMax = TimeSpan.FromSeconds(15);

    private static JsonElement Json(string text) => JsonDocument.Parse(text).RootElement.Clone();

    private async Task<CoordinationClient> ClientAsync()
    {
        using var ready = await silo.ReadyClientAsync();
        var http = new HttpClient(silo.Server.CreateHandler()) { Timeout = Timeout.InfiniteTimeSpan };
        return new CoordinationClient(http, new CoordinationClientOptions { Endpoints = [silo.Server.BaseAddress], RetryBaseDelay = TimeSpan.FromMilliseconds(10) });
    }

    [Fact]
    public async Task A_transaction_applies_every_operation_at_one_revision_in_order()
    {
        using var client = await ClientAsync();
        await client.PutConfigAsync("txc-a", Json("1"));
        await client.PutConfigAsync("txc-old", Json("0"));

        var result = await client.CommitTransactionAsync(new TransactionBuilder()
            .ConfigVersionIs("txc-a", 1).ConfigAbsent("txc-c")
            .Put("txc-a", Json("""{"balance": 70}""")).Put("txc-c", Json("30")).Delete("txc-old").Next("txc-ids", 3)
            .Build()).WaitAsync(WaitMax);

        Assert.Equal(["put", "put", "delete", "next"], result.Results.Select(r => r.Type));
        Assert.Equal(2, result.Results[0].Version);
        Assert.Equal(result.Revision, result.Results[0].Revision);
        Assert.Equal(1, result.Results[2].Version);
        Assert.Equal(1, result.Results[3].First);
        Assert.Equal(3, result.Results[3].Count);
        Assert.Equal(70, (await client.GetConfigAsync("txc-a"))!.Value.GetProperty("balance").GetInt32());
        Assert.Null(await client.GetConfigAsync("txc-old"));
        Assert.Equal(3, await client.GetSequenceAsync("txc-ids"));
    }

    [Fact]
    public async Task A_failed_condition_throws_a_condition_exception_and_applies_nothing()
    {
        using var client = await ClientAsync();
        await client.PutConfigAsync("txf-a", Json("1"));

        var failed = await Assert.ThrowsAsync<TransactionConditionFailedException>(() => client.CommitTransactionAsync(new TransactionBuilder()
            .ConfigVersionIs("txf-a", 7).Put("txf-a", Json("2")).Put("txf-b", Json("2")).Build()).WaitAsync(WaitMax));

        Assert.Equal(CoordinationError.ConditionFailed, failed.Error);
        Assert.Equal(409, failed.Status);
        Assert.Equal(1, (await client.GetConfigAsync("txf-a"))!.Version);
        Assert.Null(await client.GetConfigAsync("txf-b"));
    }

    [Fact]
    public async Task A_fenced_transaction_applies_only_for_the_current_lock_holder()
    {
        using var client = await ClientAsync();
        await using var session = await client.CreateSessionAsync(TimeSpan.FromSeconds(30));
        await using var held = await session.AcquireLockAsync("txl-lock", wait: TimeSpan.FromSeconds(5));

        await client.CommitTransactionAsync(new TransactionBuilder().LockTokenIs("txl-lock", held.Token).Put("txl-doc", Json("1")).Build()).WaitAsync(WaitMax);
        await Assert.ThrowsAsync<TransactionConditionFailedException>(() =>
            client.CommitTransactionAsync(new TransactionBuilder().LockTokenIs("txl-lock", held.Token + 1000).Put("txl-doc", Json("2")).Build()).WaitAsync(WaitMax));

        Assert.Equal(1, (await client.GetConfigAsync("txl-doc"))!.Version);
    }

    [Fact]
    public async Task A_transaction_releases_the_lock_with_the_write_and_only_once()
    {
        using var client = await ClientAsync();
        await using var session = await client.CreateSessionAsync(TimeSpan.FromSeconds(30));
        await using var held = await session.AcquireLockAsync("txr-lock", wait: TimeSpan.FromSeconds(5));

        var committed = await client.CommitTransactionAsync(new TransactionBuilder().Put("txr-doc", Json("1")).ReleaseLock(held).Build()).WaitAsync(WaitMax);
        Assert.Equal(("release", held.Token), (committed.Results[1].Type, committed.Results[1].Token));
        Assert.Empty((await client.InspectLockAsync("txr-lock").WaitAsync(WaitMax)).Holders);

        // The hold is gone, so a second release refuses the whole transaction: the write is fenced by it.
        var refused = await Assert.ThrowsAsync<CoordinationException>(() =>
            client.CommitTransactionAsync(new TransactionBuilder().Put("txr-doc", Json("2")).ReleaseLock(held).Build()).WaitAsync(WaitMax));
        Assert.Equal(CoordinationError.LockNotHeld, refused.Error);
        Assert.Equal(1, (await client.GetConfigAsync("txr-doc"))!.Version);
    }

    [Fact]
    public async Task Coord_txn_commits_and_a_failed_condition_exits_refused_with_the_code()
    {
        using var client = await ClientAsync();
        await client.PutConfigAsync("txcli-a", Json("1"));
        await client.PutConfigAsync("txcli-c", Json("1"));

        var ok = await RunAsync(["txn", "--if-version", "txcli-a=1", "--if-absent", "txcli-b", "--put", "txcli-a={\"x\":1}", "--put", "txcli-b=2", "--delete", "txcli-c", "--next", "txcli-seq=2"]);
        var refused = await RunAsync(["txn", "--if-version", "txcli-a=1", "--put", "txcli-a=3"]);
        var json = await RunAsync(["--json", "txn", "--next", "txcli-seq"]);

        Assert.Equal(0, ok.Exit);
        Assert.StartsWith("committed  revision ", ok.Output, StringComparison.Ordinal);
        Assert.Contains(Row("put", "txcli-a", "2", "-", "-"), Rows(ok.Output));
        Assert.Contains(Row("delete", "txcli-c", "1", "-", "-"), Rows(ok.Output));
        Assert.Contains(Row("next", "txcli-seq", "-", "1", "2"), Rows(ok.Output));
        Assert.Equal(ExitCodes.Refused, refused.Exit);
        Assert.StartsWith("coord: condition-failed:", refused.Error, StringComparison.Ordinal);
        Assert.Equal(1, JsonDocument.Parse(json.Output).RootElement.GetProperty("results")[0].GetProperty("count").GetInt32());
        Assert.Equal(1, (await client.GetConfigAsync("txcli-a"))!.Value.GetProperty("x").GetInt32());
        Assert.Null(await client.GetConfigAsync("txcli-c"));
        Assert.Equal(3, await client.GetSequenceAsync("txcli-seq"));
    }

    [Fact]
    public async Task Coord_txn_without_operations_is_a_usage_error()
    {
        var run = await RunAsync(["txn", "--if-absent", "x"]);

        Assert.Equal(ExitCodes.Usage, run.Exit);
        Assert.Contains("1..64 operations", run.Error, StringComparison.Ordinal);
    }

    private static string Row(params string[] cells) => string.Join(' ', cells);

    private static string[] Rows(string output) =>
        [.. output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => string.Join(' ', l.Split(' ', StringSplitOptions.RemoveEmptyEntries)))];

    private async Task<(int Exit, string Output, string Error)> RunAsync(string[] args)
    {
        using var ready = await silo.ReadyClientAsync();
        var root = CoordCli.Build(urls => new CoordinationClient(
            new HttpClient(silo.Server.CreateHandler()) { Timeout = Timeout.InfiniteTimeSpan },
            new CoordinationClientOptions { Endpoints = [silo.Server.BaseAddress], RetryBaseDelay = TimeSpan.FromMilliseconds(10) }), _ => null);
        using var output = new StringWriter();
        using var error = new StringWriter();
        var exit = await root.Parse(args).InvokeAsync(new InvocationConfiguration { Output = output, Error = error }).WaitAsync(WaitMax);
        return (exit, output.ToString().ReplaceLineEndings("\n"), error.ToString());
    }
}
