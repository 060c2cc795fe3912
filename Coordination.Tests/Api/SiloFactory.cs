using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;

namespace Coordination.Tests.Api;

/// <summary>
/// One real silo in process: the whole ASP.NET pipeline over TestServer, a real write-ahead log in
/// a temporary directory, its peer listener on a free loopback port. Deleted when disposed.
/// </summary>
public sealed class SiloFactory : WebApplicationFactory<Program>
{
    private readonly string _data = Path.Combine(Path.GetTempPath(), "coord-api-" + Guid.NewGuid().ToString("N"));

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseSetting("Coordination:NodeId", "1");
        builder.UseSetting("Coordination:DataDirectory", _data);
        builder.UseSetting("Coordination:Members", $"1=127.0.0.1:{FreePort()}:{FreePort()}");
        builder.UseSetting("Coordination:TickMs", "20");
        builder.UseSetting("Logging:LogLevel:Default", "Warning");
    }

    private const int PortsFirst = 20_000;
    private const int PortsCount = 12_000;
    private static int _nextPort = Random.Shared.Next(PortsCount);

    /// <summary>
    /// A loopback port free now, from 20000-31999: below the kernel's ephemeral range (32768 and up),
    /// so no outgoing connection of any process takes it as its source port. (Asking the kernel for
    /// port 0 hands out ephemeral ports: a silo killed and restarted on its ports could then find one
    /// taken by some connection made meanwhile, "address already in use".) Never the same port twice
    /// in one test run.
    /// </summary>
    public static int FreePort()
    {
        for (var attempt = 0; attempt < PortsCount; attempt++)
        {
            var port = PortsFirst + (int)((uint)Interlocked.Increment(ref _nextPort) % PortsCount);
            try
            {
                using var listener = new TcpListener(IPAddress.Loopback, port);
                listener.Start();
                return port;
            }
            catch (SocketException)
            {
                // Taken by someone else: the next one.
            }
        }

        throw new InvalidOperationException($"No free loopback port in {PortsFirst}-{PortsFirst + PortsCount - 1}.");
    }

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        try
        {
            Directory.Delete(_data, recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
        }
    }
}

/// <summary>Small helpers that keep the API tests readable.</summary>
internal static class Http
{
    /// <summary>A client for a silo (also one built with <c>WithWebHostBuilder</c>) once it has a leader; waits at most 10 s.</summary>
    public static async Task<HttpClient> ReadyClientAsync(this WebApplicationFactory<Program> factory)
    {
        var client = factory.CreateClient();
        for (var attempt = 0; attempt < 1_000; attempt++)
        {
            if ((await client.GetAsync("/readyz")).IsSuccessStatusCode)
            {
                return client;
            }

            await Task.Delay(10);
        }

        throw new TimeoutException("the silo did not become ready within 10 s");
    }

    public static async Task<JsonElement> Json(this HttpResponseMessage response, HttpStatusCode expected)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == expected, $"expected {(int)expected}, got {(int)response.StatusCode}: {body}");
        return body.Length == 0 ? default : JsonDocument.Parse(body).RootElement.Clone();
    }

    public static async Task<string> Problem(this HttpResponseMessage response, HttpStatusCode expected)
    {
        var json = await response.Json(expected);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        return json.GetProperty("code").GetString()!;
    }

    public static Task<HttpResponseMessage> Post(this HttpClient client, string path, object? body = null) => client.PostAsJsonAsync(path, body ?? new { });

    public static Task<HttpResponseMessage> Put(this HttpClient client, string path, object body) => client.PutAsJsonAsync(path, body);

    public static async Task<ulong> Session(this HttpClient client, long ttlMs = 30_000) =>
        (await (await client.Post("/v1/sessions", new { ttlMs })).Json(HttpStatusCode.Created)).GetProperty("sessionId").GetUInt64();

    public static async Task<ulong> Applied(this HttpClient client) =>
        (await (await client.GetAsync("/v1/cluster")).Json(HttpStatusCode.OK)).GetProperty("appliedIndex").GetUInt64();
}
