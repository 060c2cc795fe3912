using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Coordination.Client.Participants;
using Coordination.Client.Transactions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Coordination.Tests.Participants;

/// <summary>The mapped protocol endpoints on a real Kestrel listening on 127.0.0.1:0, as the coordinator calls them.</summary>
public sealed class ParticipantEndpointTests : IAsyncLifetime
{
    private readonly TempJournal _dir = new();
    private readonly RecordingParticipant _app = new();
    private WebApplication? _host;
    private HttpClient _http = new();

    public async Task InitializeAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseKestrel().UseUrls("http://127.0.0.1:0");
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.Services.AddSingleton(_app);
        builder.Services.AddSingleton<ITransactionOutcomeSource>(new FakeOutcomes());
        builder.Services.AddTransactionParticipant<RecordingParticipant>(o =>
        {
            o.JournalPath = _dir.Path;
            o.RequestBodyBytesMax = 4096;
        });
        _host = builder.Build();
        _host.MapTransactionParticipant("/tx");
        await _host.StartAsync();
        var address = _host.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        _http = new HttpClient { BaseAddress = new Uri(address) };
    }

    public async Task DisposeAsync()
    {
        _http.Dispose();
        if (_host is not null)
        {
            await _host.StopAsync();
            await _host.DisposeAsync();
        }

        _dir.Dispose();
    }

    private async Task<(HttpStatusCode Status, JsonElement Body)> PostAsync(string path, object body)
    {
        using var response = await _http.PostAsJsonAsync(path, body);
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone());
    }

    [Fact]
    public async Task Prepare_commit_and_abort_answer_as_the_protocol_says_and_repeats_are_idempotent()
    {
        var prepared = await PostAsync("/tx/prepare", new { transactionId = "t-1", participant = "a", work = new { account = "alice" } });
        var again = await PostAsync("/tx/prepare", new { transactionId = "t-1", participant = "a", work = new { account = "alice" } });
        var refused = await PostAsync("/tx/prepare", new { transactionId = "t-2", participant = "a", work = "abort" });
        var committed = await PostAsync("/tx/commit", new { transactionId = "t-1", participant = "a" });
        var recommitted = await PostAsync("/tx/commit", new { transactionId = "t-1", participant = "a" });
        var aborted = await PostAsync("/tx/abort", new { transactionId = "t-2", participant = "a" });

        Assert.Equal(HttpStatusCode.OK, prepared.Status);
        Assert.Equal("commit", prepared.Body.GetProperty("vote").GetString());
        Assert.False(prepared.Body.TryGetProperty("reason", out _));
        Assert.Equal("commit", again.Body.GetProperty("vote").GetString());
        Assert.Equal("abort", refused.Body.GetProperty("vote").GetString());
        Assert.Equal("scripted", refused.Body.GetProperty("reason").GetString());
        Assert.Equal(HttpStatusCode.OK, committed.Status);
        Assert.Equal(HttpStatusCode.OK, recommitted.Status);
        Assert.Equal(HttpStatusCode.OK, aborted.Status);
        Assert.Equal(["prepare t-1", "prepare t-2", "commit t-1", "abort t-2"], _app.Calls);
    }

    [Fact]
    public async Task Ids_of_the_coordinators_name_rule_are_taken_namespaces_included()
    {
        // The coordinator takes "shop/order-42" (Names: '/' and ':' carry namespaces). The library
        // refused it (400 on every prepare and every abort delivery): such a transaction aborted at
        // its deadline and then had its abort delivered for ever.
        var prepared = await PostAsync("/tx/prepare", new { transactionId = "shop/order-42", participant = "a", work = 1 });
        var committed = await PostAsync("/tx/commit", new { transactionId = "shop/order-42", participant = "a" });
        var slashFirst = await PostAsync("/tx/abort", new { transactionId = "/order-43", participant = "a" });

        Assert.Equal("commit", prepared.Body.GetProperty("vote").GetString());
        Assert.Equal(HttpStatusCode.OK, committed.Status);
        Assert.Equal((HttpStatusCode.BadRequest, "validation"), (slashFirst.Status, slashFirst.Body.GetProperty("code").GetString()));
        Assert.Equal(["prepare shop/order-42", "commit shop/order-42"], _app.Calls);
    }

    [Fact]
    public async Task Abort_before_prepare_is_acknowledged_and_the_late_prepare_votes_abort()
    {
        var withoutWork = await PostAsync("/tx/prepare", new { transactionId = "no-work", participant = "a" });
        var aborted = await PostAsync("/tx/abort", new { transactionId = "late", participant = "a" });
        var prepared = await PostAsync("/tx/prepare", new { transactionId = "late", participant = "a", work = 1 });

        Assert.Equal(HttpStatusCode.OK, aborted.Status);
        Assert.Equal("abort", prepared.Body.GetProperty("vote").GetString());
        Assert.Equal("commit", withoutWork.Body.GetProperty("vote").GetString());
    }

    [Fact]
    public async Task Protocol_errors_are_problems_with_stable_codes()
    {
        await PostAsync("/tx/prepare", new { transactionId = "done", participant = "a", work = 1 });
        await PostAsync("/tx/commit", new { transactionId = "done", participant = "a" });

        var neverPrepared = await PostAsync("/tx/commit", new { transactionId = "never", participant = "a" });
        var abortAfterCommit = await PostAsync("/tx/abort", new { transactionId = "done", participant = "a" });
        var badId = await PostAsync("/tx/prepare", new { transactionId = "has space", participant = "a", work = 1 });
        using var malformed = await _http.PostAsync("/tx/commit", new StringContent("{", System.Text.Encoding.UTF8, "application/json"));
        var tooLarge = await PostAsync("/tx/prepare", new { transactionId = "big", participant = "a", work = new string('x', 5000) });

        Assert.Equal((HttpStatusCode.Conflict, "not-prepared"), (neverPrepared.Status, neverPrepared.Body.GetProperty("code").GetString()));
        Assert.Equal((HttpStatusCode.Conflict, "already-committed"), (abortAfterCommit.Status, abortAfterCommit.Body.GetProperty("code").GetString()));
        Assert.Equal((HttpStatusCode.BadRequest, "validation"), (badId.Status, badId.Body.GetProperty("code").GetString()));
        Assert.Equal(HttpStatusCode.BadRequest, malformed.StatusCode);
        Assert.Equal((HttpStatusCode.RequestEntityTooLarge, "body-too-large"), (tooLarge.Status, tooLarge.Body.GetProperty("code").GetString()));
        Assert.DoesNotContain(_app.Calls, c => c.Contains("big", StringComparison.Ordinal) || c.Contains("never", StringComparison.Ordinal));
    }
}
