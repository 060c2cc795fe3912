using System.Collections.Concurrent;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Coordination.Tests.Transactions;

/// <summary>
/// A scriptable two-phase-commit participant on a real Kestrel listener at 127.0.0.1 (free port):
/// records every request it receives and answers as the test says. Stopped when disposed.
/// </summary>
internal sealed class FakeParticipant : IAsyncDisposable
{
    private readonly WebApplication _app;

    private FakeParticipant(WebApplication app) => _app = app;

    /// <summary>The vote prepare answers with ("commit" or "abort"), or null to answer 503.</summary>
    public string? Vote { get; set; } = "commit";

    /// <summary>When set, prepare waits on it before answering (a hung participant).</summary>
    public TaskCompletionSource? HoldPrepare { get; set; }

    /// <summary>Commit and abort deliveries answered 503 before the first 200.</summary>
    public int RefuseDeliveries { get; set; }

    public ConcurrentQueue<(string Action, string TransactionId, string Body)> Received { get; } = new();

    public string Endpoint => _app.Urls.First() + "/tx";

    public int Count(string action, string transactionId) => Received.Count(r => r.Action == action && r.TransactionId == transactionId);

    public static async Task<FakeParticipant> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var participant = new FakeParticipant(app);
        app.MapPost("/tx/{action}", participant.HandleAsync);
        await app.StartAsync();
        return participant;
    }

    private async Task<IResult> HandleAsync(string action, HttpRequest request)
    {
        using var reader = new StreamReader(request.Body);
        var body = await reader.ReadToEndAsync();
        var id = JsonDocument.Parse(body).RootElement.GetProperty("transactionId").GetString()!;
        Received.Enqueue((action, id, body));
        switch (action)
        {
            case "prepare":
                if (HoldPrepare is { } hold)
                {
                    await hold.Task.WaitAsync(TimeSpan.FromSeconds(30));
                }

                return Vote is null ? Results.StatusCode(503) : Results.Json(new { vote = Vote, reason = Vote == "abort" ? "scripted refusal" : null });
            case "commit" or "abort":
                if (RefuseDeliveries > 0)
                {
                    RefuseDeliveries--;
                    return Results.StatusCode(503);
                }

                return Results.Ok();
            default:
                return Results.NotFound();
        }
    }

    public async ValueTask DisposeAsync()
    {
        HoldPrepare?.TrySetResult();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
