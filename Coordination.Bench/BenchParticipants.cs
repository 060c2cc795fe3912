using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Coordination.Bench;

/// <summary>
/// Two-phase-commit participants for the txn-2pc workload: Kestrel on 127.0.0.1 (free port) that
/// vote commit and acknowledge at once, keeping nothing. They cost what an HTTP round trip costs,
/// so the workload measures the coordinator (a real participant adds its own durable write).
/// </summary>
public sealed class BenchParticipants : IAsyncDisposable
{
    private readonly WebApplication _app;

    private BenchParticipants(WebApplication app) => _app = app;

    public string Endpoint(string name) => $"{_app.Urls.First()}/{name}";

    public static async Task<BenchParticipants> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        app.MapPost("/{participant}/prepare", () => Results.Text("""{"vote":"commit"}""", "application/json"));
        app.MapPost("/{participant}/commit", () => Results.Ok());
        app.MapPost("/{participant}/abort", () => Results.Ok());
        await app.StartAsync();
        return new BenchParticipants(app);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
