using System.Net.Http.Json;
using System.Text.Json;
using Coordination.Client;
using Coordination.Client.Transactions;
using Coordination.Samples.Bank;
using Coordination.Tests.Api;
using Coordination.Tests.Participants;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;

namespace Coordination.Tests.Samples;

/// <summary>
/// The client, the participant library and two sample banks (real Kestrel listeners on 127.0.0.1) against the
/// real two-phase-commit coordinator of one in-process silo (<see cref="SiloFactory"/>).
/// </summary>
public sealed class BankCoordinatorTests(SiloFactory silo) : IClassFixture<SiloFactory>, IAsyncLifetime
{
    private static readonly TimeSpan WaitMax = TimeSpan.FromSeconds(30);
    private readonly TempJournal _dirA = new();
    private readonly TempJournal _dirB = new();
    private readonly List<WebApplication> _apps = [];
    private readonly HttpClient _http = new();
    private CoordinationClient? _client;
    private string _bankA = "";
    private string _bankB = "";

    private CoordinationClient Client => _client!;

    public async Task InitializeAsync()
    {
        using var ready = await silo.ReadyClientAsync();
        _client = new CoordinationClient(
            new HttpClient(silo.Server.CreateHandler()) { Timeout = Timeout.InfiniteTimeSpan },
            new CoordinationClientOptions { Endpoints = [silo.Server.BaseAddress], RetryBaseDelay = TimeSpan.FromMilliseconds(10) });
        _bankA = await StartBankAsync(_dirA, "alice=1000,bob=500");
        _bankB = await StartBankAsync(_dirB, "carol=200");
    }

    public async Task DisposeAsync()
    {
        foreach (var app in _apps)
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }

        _client?.Dispose();
        _http.Dispose();
        _dirA.Dispose();
        _dirB.Dispose();
    }

    private async Task<string> StartBankAsync(TempJournal dir, string accounts)
    {
        var app = BankApp.Build(
            BankSettings.Parse(["--urls", "http://127.0.0.1:0", "--data-dir", dir.DirectoryPath, "--accounts", accounts, "--coordinator", "http://127.0.0.1:1"]),
            services => services.AddSingleton(Client));
        _apps.Add(app);
        await app.StartAsync();
        return app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
    }

    private static JsonElement Leg(string account, long delta) => JsonSerializer.SerializeToElement(new { account, delta });

    private async Task<LedgerBalances> BalancesAsync(string bank) =>
        (await _http.GetFromJsonAsync<LedgerBalances>(bank + "/accounts"))!;

    [Fact]
    public async Task A_distributed_transaction_over_two_banks_commits_through_the_real_coordinator_and_is_acknowledged_by_both()
    {
        var begun = await Client.BeginDistributedTransactionAsync(new DistributedTransactionRequest(
            [
                new DistributedTransactionParticipant("from", new Uri(_bankA + "/tx"), Leg("alice", -100)),
                new DistributedTransactionParticipant("to", new Uri(_bankB + "/tx"), Leg("carol", 100)),
            ],
            Id: "bank-e2e-commit"));
        var finished = await Client.WaitForDistributedTransactionAsync(begun.Id, DistributedTransactionMilestone.Finished, WaitMax);

        Assert.Equal(DistributedTransactionState.Committed, finished.State);
        Assert.All(finished.Participants, p => Assert.Equal((ParticipantVoteState.Commit, true), (p.Vote, p.Acknowledged)));
        Assert.Equal(TransactionOutcome.Commit, await Client.GetDistributedTransactionOutcomeAsync(begun.Id));
        Assert.Equal(900, (await BalancesAsync(_bankA)).Balances["alice"]);
        Assert.Equal(300, (await BalancesAsync(_bankB)).Balances["carol"]);
        Assert.Contains(await Client.ListDistributedTransactionsAsync(DistributedTransactionState.Committed), v => v.Id == begun.Id);
    }

    [Fact]
    public async Task Transfers_through_the_banks_endpoint_commit_or_abort_with_the_total_kept()
    {
        var total = (await BalancesAsync(_bankA)).Money + (await BalancesAsync(_bankB)).Money;

        using var ok = await _http.PostAsJsonAsync(_bankA + "/transfers", new { from = new { bank = _bankA, account = "bob" }, to = new { bank = _bankB, account = "carol" }, amount = 50, id = "bank-e2e-transfer" });
        using var overdraft = await _http.PostAsJsonAsync(_bankA + "/transfers", new { from = new { bank = _bankB, account = "carol" }, to = new { bank = _bankA, account = "bob" }, amount = 10_000 });
        var committed = JsonDocument.Parse(await ok.Content.ReadAsStringAsync()).RootElement;
        var refused = JsonDocument.Parse(await overdraft.Content.ReadAsStringAsync()).RootElement;
        // /transfers answers at the decision; delivery may still be running: wait until both banks acknowledged.
        var finishedOk = await Client.WaitForDistributedTransactionAsync("bank-e2e-transfer", DistributedTransactionMilestone.Finished, WaitMax);
        var finishedRefused = await Client.WaitForDistributedTransactionAsync(refused.GetProperty("id").GetString()!, DistributedTransactionMilestone.Finished, WaitMax);

        Assert.True(committed.GetProperty("committed").GetBoolean(), committed.ToString());
        Assert.Equal("bank-e2e-transfer", committed.GetProperty("id").GetString());
        Assert.False(refused.GetProperty("committed").GetBoolean(), refused.ToString());
        Assert.Equal((DistributedTransactionState.Committed, DistributedTransactionState.Aborted), (finishedOk.State, finishedRefused.State));
        var a = await BalancesAsync(_bankA);
        var b = await BalancesAsync(_bankB);
        Assert.Equal(total, a.Money + b.Money);
        Assert.Empty(a.Holds);
        Assert.Empty(b.Holds);
    }

    private sealed record LedgerBalances(Dictionary<string, long> Balances, List<JsonElement> Holds, long Money);
}
