using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Coordination.Client.Participants;
using Coordination.Samples.Bank;
using Coordination.Tests.Participants;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;

namespace Coordination.Tests.Samples;

/// <summary>The sample bank's participant logic in process: the money invariant, idempotency, durability across a reopen.</summary>
public sealed class BankLedgerTests : IDisposable
{
    private readonly TempJournal _a = new();
    private readonly TempJournal _b = new();

    public void Dispose()
    {
        _a.Dispose();
        _b.Dispose();
    }

    private static JsonElement Leg(string account, long delta) => JsonSerializer.SerializeToElement(new { account, delta });

    private static JsonElement Moves(params (string Account, long Delta)[] moves) =>
        JsonSerializer.SerializeToElement(new { moves = moves.Select(m => new { account = m.Account, delta = m.Delta }) });

    private BankLedger Open(TempJournal dir) => BankLedger.Open(dir.DirectoryPath, new Dictionary<string, long> { ["alice"] = 1000, ["bob"] = 500 });

    [Fact]
    public async Task Prepare_and_abort_never_change_the_banks_money_and_a_transfer_inside_the_bank_keeps_it_at_commit()
    {
        var bank = Open(_a);
        var money = bank.Snapshot().Money;
        var seen = new List<long>();

        Assert.True((await bank.PrepareAsync("t1", Moves(("alice", -300), ("bob", 300)), default)).IsCommit);
        seen.Add(bank.Snapshot().Money);
        Assert.True((await bank.PrepareAsync("t2", Leg("alice", -600), default)).IsCommit);
        seen.Add(bank.Snapshot().Money);
        // 1000 - 300 - 600 leaves 100: a third debit of 200 must not be reserved.
        var refused = await bank.PrepareAsync("t3", Leg("alice", -200), default);
        seen.Add(bank.Snapshot().Money);
        await bank.CommitAsync("t1", default);
        seen.Add(bank.Snapshot().Money);
        await bank.AbortAsync("t2", default);
        seen.Add(bank.Snapshot().Money);
        await bank.AbortAsync("t3", default);
        seen.Add(bank.Snapshot().Money);

        Assert.False(refused.IsCommit);
        Assert.Contains("insufficient funds", refused.Reason, StringComparison.Ordinal);
        Assert.All(seen, m => Assert.Equal(money, m));
        var state = bank.Snapshot();
        Assert.Equal(700, state.Balances["alice"]);
        Assert.Equal(800, state.Balances["bob"]);
        Assert.Empty(state.Holds);
    }

    [Fact]
    public async Task A_transfer_between_two_banks_keeps_the_total_once_both_have_the_decision_whatever_it_is()
    {
        var a = Open(_a);
        var b = Open(_b);
        long Total() => a.Snapshot().Money + b.Snapshot().Money;
        var total = Total();

        Assert.True((await a.PrepareAsync("commit-me", Leg("alice", -100), default)).IsCommit);
        Assert.True((await b.PrepareAsync("commit-me", Leg("bob", 100), default)).IsCommit);
        Assert.Equal(total, Total());
        await a.CommitAsync("commit-me", default);
        await b.CommitAsync("commit-me", default);
        Assert.Equal(total, Total());

        Assert.True((await a.PrepareAsync("abort-me", Leg("alice", -50), default)).IsCommit);
        Assert.False((await b.PrepareAsync("abort-me", Leg("nobody", 50), default)).IsCommit);
        await a.AbortAsync("abort-me", default);
        await b.AbortAsync("abort-me", default);

        Assert.Equal(total, Total());
        Assert.Equal(900, a.Snapshot().Balances["alice"]);
        Assert.Equal(600, b.Snapshot().Balances["bob"]);
    }

    [Fact]
    public async Task Repeated_prepare_commit_and_abort_apply_once_and_the_ledger_survives_a_reopen()
    {
        var bank = Open(_a);
        await bank.PrepareAsync("t", Leg("alice", -100), default);
        await bank.PrepareAsync("t", Leg("alice", -100), default);
        var reopened = Open(_a);

        Assert.Equal(900, reopened.Snapshot().Balances["alice"]);
        Assert.Single(reopened.Snapshot().Holds);
        await reopened.CommitAsync("t", default);
        await reopened.CommitAsync("t", default);
        await reopened.AbortAsync("t", default);
        Assert.Equal(900, Open(_a).Snapshot().Balances["alice"]);
        Assert.Empty(Open(_a).Snapshot().Holds);
    }

    [Fact]
    public async Task Malformed_work_and_unknown_accounts_vote_abort_and_reserve_nothing()
    {
        var bank = Open(_a);
        var money = bank.Snapshot();

        Assert.False((await bank.PrepareAsync("a", JsonSerializer.SerializeToElement("text"), default)).IsCommit);
        Assert.False((await bank.PrepareAsync("b", Leg("alice", 0), default)).IsCommit);
        Assert.False((await bank.PrepareAsync("c", Leg("carol", -1), default)).IsCommit);

        Assert.Equal(money.Balances, bank.Snapshot().Balances);
        Assert.Empty(bank.Snapshot().Holds);
    }

    [Fact]
    public void A_transfer_inside_one_bank_is_one_participant_and_across_banks_two()
    {
        var same = BankApp.Participants(new Uri("http://127.0.0.1:7001"), "alice", new Uri("http://127.0.0.1:7001/"), "bob", 5);
        var across = BankApp.Participants(new Uri("http://127.0.0.1:7001"), "alice", new Uri("http://127.0.0.1:7002"), "bob", 5);

        var single = Assert.Single(same);
        Assert.Equal(new Uri("http://127.0.0.1:7001/tx"), single.Endpoint);
        Assert.Equal(2, single.Work.GetProperty("moves").GetArrayLength());
        Assert.Equal(["from", "to"], across.Select(p => p.Name));
        Assert.Equal([-5L, 5L], across.Select(p => p.Work.GetProperty("delta").GetInt64()));
        Assert.Equal(new Uri("http://127.0.0.1:7002/tx"), across[1].Endpoint);
    }

    [Fact]
    public async Task The_bank_serves_its_accounts_and_the_participant_protocol_and_hides_fault_hooks_unless_enabled()
    {
        var settings = BankSettings.Parse(["--urls", "http://127.0.0.1:0", "--data-dir", _a.DirectoryPath, "--accounts", "alice=10,bob=5", "--coordinator", "http://127.0.0.1:1"]);
        await using var app = BankApp.Build(settings);
        await app.StartAsync();
        using var http = new HttpClient { BaseAddress = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single()) };

        using var prepared = await http.PostAsJsonAsync("/tx/prepare", new { transactionId = "t1", participant = "from", work = new { account = "alice", delta = -4 } });
        var accounts = JsonDocument.Parse(await http.GetStringAsync("/accounts")).RootElement;
        using var faults = await http.PostAsJsonAsync("/faults", new { prepare = "fail" });
        await app.StopAsync();

        Assert.Equal("commit", JsonDocument.Parse(await prepared.Content.ReadAsStringAsync()).RootElement.GetProperty("vote").GetString());
        Assert.Equal(6, accounts.GetProperty("balances").GetProperty("alice").GetInt64());
        Assert.Equal("t1", accounts.GetProperty("holds")[0].GetProperty("transactionId").GetString());
        Assert.Equal(15, accounts.GetProperty("money").GetInt64());
        Assert.Equal(HttpStatusCode.NotFound, faults.StatusCode);
        Assert.True(File.Exists(Path.Combine(_a.DirectoryPath, "participant-journal.log")));
        Assert.Equal(ParticipantTransactionStatus.Prepared, app.Services.GetRequiredService<ParticipantJournal>().Find("t1")!.Status);
    }
}
