using System.Diagnostics;
using Coordination.Api;
using Coordination.Silo;
using Coordination.Silo.Backup;
using Coordination.Silo.Diagnostics;
using Coordination.Silo.Transactions;

// The content root is the silo's own directory, wherever it is started from: appsettings.json (log
// levels) is found next to the binary, and the configuration file watcher watches that directory,
// not the working directory, which may hold the data directory and see a write per commit.
var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
builder.Configuration.AddCommandLine(args, SiloOptions.SwitchMappings);
builder.Services.Configure<SiloOptions>(builder.Configuration.GetSection(SiloOptions.Section));
builder.Services.PostConfigure<SiloOptions>(o => o.ApplyHostname(Environment.MachineName));

// Structured logs: one JSON object per line with `--Logging:Format json` (for log shippers), else one readable line.
builder.Logging.ClearProviders();
if (builder.Configuration["Logging:Format"] == "json")
{
    builder.Logging.AddJsonConsole(o => o.TimestampFormat = "O");
}
else
{
    builder.Logging.AddSimpleConsole(o =>
    {
        o.SingleLine = true;
        o.TimestampFormat = "HH:mm:ss.fff ";
    });
}

// Listen where the membership says this silo serves clients, unless ASPNETCORE_URLS (or Kestrel:Endpoints)
// says otherwise; and, when the membership gives this silo an HTTP/2 port, serve the same API there over
// HTTP/2 without TLS. (Kestrel cannot offer both on one cleartext port: without TLS there is no ALPN to
// choose by.) Configured endpoints replace ASPNETCORE_URLS, so those URLs become endpoints too (Kestrel
// still logs that it overrides them; it binds the same URLs).
var settings = (builder.Configuration.GetSection(SiloOptions.Section).Get<SiloOptions>() ?? new SiloOptions()).ApplyHostname(Environment.MachineName);
if (settings.ParseMembers().FirstOrDefault(m => m.Id == settings.NodeId) is { } self)
{
    var urls = builder.Configuration["urls"];
    if (self.Http2Url is { } http2Url)
    {
        var endpoints = new Dictionary<string, string?>
        {
            ["Kestrel:Endpoints:ClientsHttp2:Url"] = http2Url,
            ["Kestrel:Endpoints:ClientsHttp2:Protocols"] = "Http2",
        };
        if (!builder.Configuration.GetSection("Kestrel:Endpoints").GetChildren().Any())
        {
            var clientUrls = string.IsNullOrEmpty(urls) ? [self.ClientUrl] : urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            for (var i = 0; i < clientUrls.Length; i++)
            {
                endpoints[$"Kestrel:Endpoints:Clients{i}:Url"] = clientUrls[i];
            }
        }

        builder.Configuration.AddInMemoryCollection(endpoints);
    }
    else if (string.IsNullOrEmpty(urls))
    {
        builder.WebHost.UseUrls(self.ClientUrl);
    }
}

builder.WebHost.ConfigureKestrel(k => k.Limits.MaxRequestBodySize = CoordinationApi.RequestBodyBytesMax);
builder.Services.AddSingleton(TimeProvider.System);
builder.Services.AddSingleton<SiloRuntime>();
builder.Services.AddHostedService(sp => sp.GetRequiredService<SiloRuntime>());
builder.Services.AddHttpClient(MemberSurvey.HttpClientName);
builder.Services.AddSingleton<MemberSurvey>();
builder.Services.AddHostedService(sp => sp.GetRequiredService<MemberSurvey>());
builder.Services.AddSingleton<ICoordinationGateway, SiloGateway>();
builder.Services.AddSingleton<PrometheusMetrics>();
builder.Services.Configure<BlobBackupSettings>(builder.Configuration.GetSection(BlobBackupSettings.Section));
builder.Services.AddSingleton<BlobBackupService>();
builder.Services.AddHostedService(sp => sp.GetRequiredService<BlobBackupService>());
builder.Services.AddCoordinationApi();
builder.Services.Configure<TransactionCoordinatorOptions>(builder.Configuration.GetSection(TransactionCoordinatorOptions.Section));
builder.Services.AddHttpClient(TransactionCoordinator.HttpClientName, c => c.Timeout = Timeout.InfiniteTimeSpan);
builder.Services.AddSingleton<TransactionCoordinator>();
builder.Services.AddHostedService(sp => sp.GetRequiredService<TransactionCoordinator>());
builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(10));

var app = builder.Build();

// Created now, not at the first scrape, so it sees every measurement from the start.
app.Services.GetRequiredService<PrometheusMetrics>();
app.Use(async (http, next) =>
{
    var started = Stopwatch.GetTimestamp();
    await next();
    var metrics = http.RequestServices.GetRequiredService<SiloRuntime>().Metrics;
    metrics.RequestSeconds.Record(
        Stopwatch.GetElapsedTime(started).TotalSeconds,
        new KeyValuePair<string, object?>("method", http.Request.Method),
        new KeyValuePair<string, object?>("status", $"{http.Response.StatusCode / 100}xx"));
});
app.UseCoordinationApi();
app.MapMembershipEndpoints();
app.MapGet("/v1/cluster/snapshot", async (SiloRuntime silo, CancellationToken cancellation) =>
    Results.File(await StateSnapshots.SaveAsync(silo, cancellation), "application/octet-stream", "coordination.snap"))
    .WithTags("Operations")
    .WithSummary("The whole state at a linearizable point, for backups; a new cluster starts from it with --restore-from.");
app.MapPost("/v1/cluster/backups", async (BlobBackupService backups, CancellationToken cancellation) =>
    backups.Configured
        ? Results.Ok(await backups.BackupNowAsync(cancellation))
        : Problems.Create(409, "backup-not-configured", "Set Coordination:Backup:ConnectionString to back up to Azure Blob Storage."))
    .WithTags("Operations")
    .WithSummary("Saves the whole state now and uploads it to Azure Blob Storage; answered by the leader.");
app.MapGet("/metrics", (PrometheusMetrics metrics) => Results.Text(metrics.Render(), "text/plain; version=0.0.4")).WithTags("Operations");
app.Run();

/// <summary>The silo executable's entry point (public for WebApplicationFactory in tests).</summary>
public partial class Program;
