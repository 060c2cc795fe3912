using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Coordination.Tests.Api;

namespace Coordination.Tests.Deploy;

/// <summary>
/// The image's build step, without Docker: the same <c>dotnet publish</c> the Dockerfile runs, then the
/// published silo started the way the image starts it (environment, not arguments) on loopback ports.
/// </summary>
[Collection(ExternalProcessCollection.Name)]
public sealed class PublishedSiloTests
{
    private const string PublishCommand = "dotnet publish Coordination.Silo/Coordination.Silo.csproj -c Release";
    private static readonly TimeSpan PublishMax = TimeSpan.FromMinutes(5);
    private static readonly TimeSpan ReadyMax = TimeSpan.FromSeconds(30);

    [Fact]
    public void The_dockerfile_publishes_the_silo_and_runs_it_as_a_non_root_user_with_data_on_a_volume()
    {
        var dockerfile = File.ReadAllText(Path.Combine(DeployPaths.Deploy, "Dockerfile"));
        Assert.Contains($"RUN {PublishCommand} --no-restore -o /app", dockerfile, StringComparison.Ordinal);
        Assert.Contains("FROM mcr.microsoft.com/dotnet/aspnet:", dockerfile, StringComparison.Ordinal);
        Assert.Contains("USER $APP_UID", dockerfile, StringComparison.Ordinal);
        Assert.Contains("VOLUME /data", dockerfile, StringComparison.Ordinal);
        Assert.Contains("Coordination__DataDirectory=/data", dockerfile, StringComparison.Ordinal);
        Assert.Contains("ASPNETCORE_URLS=http://0.0.0.0:5080", dockerfile, StringComparison.Ordinal);
        Assert.Contains("EXPOSE 5080 5090", dockerfile, StringComparison.Ordinal);
        Assert.Contains("ENTRYPOINT [\"dotnet\", \"Coordination.Silo.dll\"]", dockerfile, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_published_silo_starts_serves_health_and_a_config_write_and_read()
    {
        var root = Path.Combine(Path.GetTempPath(), "coord-publish-" + Guid.NewGuid().ToString("N"));
        Process? silo = null;
        var log = new StringBuilder();
        try
        {
            var app = Path.Combine(root, "app");
            var (exit, output) = DeployPaths.Run("dotnet", [.. PublishCommand.Split(' ')[1..], "-o", app], DeployPaths.RepositoryRoot, PublishMax);
            Assert.True(exit == 0, $"{PublishCommand} failed ({exit}):\n{output}");
            Assert.True(File.Exists(Path.Combine(app, "Coordination.Silo.dll")), output);

            int client = SiloFactory.FreePort(), peer = SiloFactory.FreePort();
            var info = new ProcessStartInfo("dotnet")
            {
                ArgumentList = { Path.Combine(app, "Coordination.Silo.dll") },
                WorkingDirectory = app,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            info.Environment["ASPNETCORE_URLS"] = $"http://127.0.0.1:{client}";
            info.Environment["Coordination__DataDirectory"] = Path.Combine(root, "data");
            info.Environment["Coordination__Members"] = $"1=127.0.0.1:{client}:{peer}";
            info.Environment["Coordination__TickMs"] = "20";
            info.Environment["DOTNET_EnableDiagnostics"] = "0";
            silo = Process.Start(info) ?? throw new InvalidOperationException("dotnet did not start");
            silo.OutputDataReceived += (_, e) => { lock (log) { log.AppendLine(e.Data); } };
            silo.ErrorDataReceived += (_, e) => { lock (log) { log.AppendLine(e.Data); } };
            silo.BeginOutputReadLine();
            silo.BeginErrorReadLine();

            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{client}"), Timeout = TimeSpan.FromSeconds(5) };
            var ready = await PollAsync(http, "/readyz", silo, log);
            Assert.Equal("ready", ready.GetProperty("status").GetString());
            var health = await http.GetAsync("/healthz");
            Assert.Equal(HttpStatusCode.OK, health.StatusCode);

            var write = await http.PutAsJsonAsync("/v1/config/deploy-check", new { value = new { replicas = 3 }, expectedVersion = 0 });
            Assert.True(write.IsSuccessStatusCode, await write.Content.ReadAsStringAsync());
            var read = await http.GetFromJsonAsync<JsonElement>("/v1/config/deploy-check");
            Assert.Equal(3, read.GetProperty("value").GetProperty("replicas").GetInt32());
            Assert.True(Directory.EnumerateFileSystemEntries(Path.Combine(root, "data")).Any(), "the silo wrote nothing to its data directory");
        }
        finally
        {
            if (silo is not null)
            {
                if (!silo.HasExited)
                {
                    silo.Kill(entireProcessTree: true);
                    silo.WaitForExit(TimeSpan.FromSeconds(10));
                }

                silo.Dispose();
            }

            DeployPaths.DeleteDirectory(root);
        }
    }

    private static async Task<JsonElement> PollAsync(HttpClient http, string path, Process silo, StringBuilder log)
    {
        var waited = Stopwatch.StartNew();
        while (waited.Elapsed < ReadyMax)
        {
            Assert.False(silo.HasExited, $"the published silo exited ({(silo.HasExited ? silo.ExitCode : 0)}):\n{log}");
            try
            {
                var response = await http.GetAsync(path);
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    return await response.Content.ReadFromJsonAsync<JsonElement>();
                }
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
            }

            await Task.Delay(100);
        }

        lock (log)
        {
            throw new TimeoutException($"{path} not 200 within {ReadyMax}:\n{log}");
        }
    }
}
