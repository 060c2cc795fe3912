using System.Collections.Concurrent;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Coordination.Samples.Bank;
using Coordination.Tests.Participants;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Coordination.Tests.Samples;

/// <summary>
/// Two banks in process on real Kestrel ports and a stand-in coordinator that runs the participant protocol
/// (prepare everyone, commit only on all-commit votes, deliver the decision) — enough to exercise
/// <c>POST /transfers</c>, the client's begin and wait, and the participant endpoints together. The real
/// coordinator's end-to-end tests live with the coordinator.
/// </summary>
public sealed class BankTransferTests : IAsyncLifetime
{
    private readonly TempJournal _dirA = new();
    private readonly TempJournal _dirB = new();
    private readonly List<WebApplication> _apps = [];
    private readonly HttpClient _http = new();
    private string _coordinator = "";
    private string _bankA = "";
    private string _bankB = "";

    public async Task InitializeAsync()
    {
        _coordinator = await StartAsync(FakeCoordinator.Build());
        _bankA = await StartAsync(BankApp.Build(BankSettings.Parse(["--urls", "http://127.0.0.1:0", "--data-dir", _dirA.DirectoryPath, "--accounts", "alice=1000,bob=500", "--coordinator", _coordinator])));
        _bankB = await StartAsync(BankApp.Build(BankSettings.Parse(["--urls", "http://127.0.0.1:0", "--data-dir", _dirB.DirectoryPath, "--accounts", "carol=200", "--coordinator", _coordinator])));
    }

    public async Task DisposeAsync()
    {
        foreach (var app in _apps)
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }

        _http.Dispose();
        _dirA.Dispose();
        _dirB.Dispose();
    }

    private async Task<string> StartAsync(WebApplication app)
    {
        _apps.Add(app);
        await app.StartAsync();
        return app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
    }

    private async Task<JsonElement> TransferAsync(string fromBank, string from, string toBank, string to, long amount)
    {
        using var response = await _http.PostAsJsonAsync(_bankA + "/transfers", new { from = new { bank = fromBank, account = from }, to = new { bank = toBank, account = to }, amount });
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, text);
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    private async Task<JsonElement> AccountsAsync(string bank) => JsonDocument.Parse(await _http.GetStringAsync(bank + "/accounts")).RootElement.Clone();

    [Fact]
    public async Task A_transfer_between_two_banks_commits_and_an_overdraft_aborts_with_the_total_kept()
    {
        var committed = await TransferAsync(_bankA, "alice", _bankB, "carol", 100);
        var overdraft = await TransferAsync(_bankA, "bob", _bankB, "carol", 5000);
        var inside = await TransferAsync(_bankA, "alice", _bankA, "bob", 50);
        var a = await AccountsAsync(_bankA);
        var b = await AccountsAsync(_bankB);

        Assert.True(committed.GetProperty("committed").GetBoolean());
        Assert.False(overdraft.GetProperty("committed").GetBoolean());
        Assert.Contains("insufficient funds", overdraft.GetProperty("reason").GetString(), StringComparison.Ordinal);
        Assert.True(inside.GetProperty("committed").GetBoolean());
        Assert.Equal(850, a.GetProperty("balances").GetProperty("alice").GetInt64());
        Assert.Equal(550, a.GetProperty("balances").GetProperty("bob").GetInt64());
        Assert.Equal(300, b.GetProperty("balances").GetProperty("carol").GetInt64());
        Assert.Equal(0, a.GetProperty("holds").GetArrayLength() + b.GetProperty("holds").GetArrayLength());
        Assert.Equal(1700, a.GetProperty("money").GetInt64() + b.GetProperty("money").GetInt64());
    }

    /// <summary>
    /// A stand-in for the coordinator of docs/api.md: begin runs the whole protocol synchronously, then the view is
    /// served as decided; <c>/v1/cluster</c> names itself the leader.
    /// </summary>
    private static class FakeCoordinator
    {
        public static WebApplication Build()
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.WebHost.UseKestrel().UseUrls("http://127.0.0.1:0");
            builder.Logging.SetMinimumLevel(LogLevel.Warning);
            var app = builder.Build();
            var views = new ConcurrentDictionary<string, JsonObject>();
            app.MapGet("/v1/cluster", (HttpContext context) => Results.Text(
                $$"""{"nodeId": 1, "role": "leader", "term": 1, "leader": 1, "members": [{"id": 1, "clientUrl": "{{context.Request.Scheme}}://{{context.Request.Host}}", "peerAddress": "x:1"}]}""",
                "application/json"));
            app.MapPost("/v1/distributed-transactions", async (HttpContext context) =>
            {
                var body = (await JsonNode.ParseAsync(context.Request.Body))!.AsObject();
                var id = body["id"]?.GetValue<string>() ?? Guid.NewGuid().ToString("N");
                var participants = body["participants"]!.AsArray().Select(p => p!.AsObject()).ToList();
                using var client = new HttpClient();
                var commit = true;
                string? reason = null;
                foreach (var p in participants)
                {
                    using var prepared = await client.PostAsJsonAsync($"{p["endpoint"]}/prepare", new { transactionId = id, participant = p["name"]!.GetValue<string>(), work = p["work"] });
                    var vote = (await JsonNode.ParseAsync(await prepared.Content.ReadAsStreamAsync()))!;
                    if (vote["vote"]!.GetValue<string>() != "commit")
                    {
                        commit = false;
                        reason = vote["reason"]?.GetValue<string>();
                    }
                }

                foreach (var p in participants)
                {
                    using var decided = await client.PostAsJsonAsync($"{p["endpoint"]}/{(commit ? "commit" : "abort")}", new { transactionId = id, participant = p["name"]!.GetValue<string>() });
                    decided.EnsureSuccessStatusCode();
                }

                var view = new JsonObject
                {
                    ["id"] = id,
                    ["state"] = commit ? "committed" : "aborted",
                    ["reason"] = reason,
                    ["createdMs"] = 1,
                    ["deadlineMs"] = 2,
                    ["decidedMs"] = 2,
                    ["participants"] = new JsonArray([.. participants.Select(p => (JsonNode)new JsonObject
                    {
                        ["name"] = p["name"]!.GetValue<string>(),
                        ["endpoint"] = p["endpoint"]!.GetValue<string>(),
                        ["vote"] = "commit",
                        ["acknowledged"] = true,
                    })]),
                };
                views[id] = view;
                return Results.Json(view, statusCode: 202);
            });
            app.MapGet("/v1/distributed-transactions/{id}", (string id) => views.TryGetValue(id, out var view) ? Results.Json(view) : Results.NotFound());
            return app;
        }
    }
}
