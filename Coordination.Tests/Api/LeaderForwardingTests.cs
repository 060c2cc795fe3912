using System.Net;
using System.Net.Sockets;
using System.Reflection;
using Coordination.Api;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Coordination.Tests.Api;

/// <summary>
/// The follower's side of forwarding, against a real Kestrel "leader" on 127.0.0.1 that speaks
/// HTTP/1.1 only and records what reached it.
/// </summary>
public sealed class LeaderForwardingTests : IAsyncLifetime
{
    private readonly List<(string Protocol, string? Via, string Body)> _seen = [];
    private WebApplication? _leader;
    private Uri _leaderUrl = null!;

    public async Task InitializeAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseKestrel().UseUrls("http://127.0.0.1:0");
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        _leader = builder.Build();
        _leader.MapPut("/v1/config/{name}", async (HttpContext http) =>
        {
            using var reader = new StreamReader(http.Request.Body);
            lock (_seen)
            {
                _seen.Add((http.Request.Protocol, http.Request.Headers.Via.ToString(), reader.ReadToEndAsync().GetAwaiter().GetResult()));
            }

            http.Response.Headers["X-Coordination-Revision"] = "7";
            await http.Response.WriteAsJsonAsync(new { revision = 7 });
        });
        await _leader.StartAsync();
        _leaderUrl = new Uri(_leader.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single());
    }

    public async Task DisposeAsync()
    {
        if (_leader is not null)
        {
            await _leader.DisposeAsync();
        }
    }

    [Fact]
    public async Task An_http2_write_falls_back_to_the_client_url_when_the_leaders_http2_port_does_not_answer()
    {
        var closedPort = ClosedLoopbackPort();
        var http = await ForwardAsync("HTTP/2", new LeaderAddress(_leaderUrl, new Uri($"http://127.0.0.1:{closedPort}")));

        Assert.Equal(200, http.Response.StatusCode);
        Assert.Equal("1.1 coordination", http.Response.Headers.Via.ToString());
        Assert.Equal("7", http.Response.Headers["X-Coordination-Revision"].ToString());
        var seen = Assert.Single(_seen);
        Assert.Equal(("HTTP/1.1", "2 coordination", """{"value":1}"""), seen);
    }

    [Fact]
    public async Task An_http1_write_goes_to_the_client_url_even_when_the_leader_has_an_http2_port()
    {
        var http = await ForwardAsync("HTTP/1.1", new LeaderAddress(_leaderUrl, new Uri($"http://127.0.0.1:{ClosedLoopbackPort()}")));

        Assert.Equal(200, http.Response.StatusCode);
        Assert.Equal("1.1 coordination", http.Response.Headers.Via.ToString());
        Assert.Equal("1.1 coordination", Assert.Single(_seen).Via);
    }

    [Fact]
    public async Task A_leader_that_answers_on_no_url_is_no_leader_with_a_retry_hint()
    {
        var http = await ForwardAsync("HTTP/2", new LeaderAddress(new Uri($"http://127.0.0.1:{ClosedLoopbackPort()}"), new Uri($"http://127.0.0.1:{ClosedLoopbackPort()}")));

        Assert.Equal(503, http.Response.StatusCode);
        Assert.Equal("1", http.Response.Headers.RetryAfter.ToString());
        Assert.Empty(_seen);
    }

    private static async Task<DefaultHttpContext> ForwardAsync(string protocol, LeaderAddress leader)
    {
        var http = new DefaultHttpContext();
        http.Request.Method = "PUT";
        http.Request.Protocol = protocol;
        http.Request.Path = "/v1/config/app";
        http.Request.ContentType = "application/json";
        http.Request.Body = new MemoryStream("""{"value":1}"""u8.ToArray());
        http.Response.Body = new MemoryStream();
        http.RequestServices = new ServiceCollection().AddLogging().BuildServiceProvider();
        using var services = new ServiceCollection().AddHttpClient().BuildServiceProvider();
        var middleware = new LeaderForwardingMiddleware(_ => throw new InvalidOperationException("a write reached the follower's own handler"), services.GetRequiredService<IHttpClientFactory>(), NullLogger<LeaderForwardingMiddleware>.Instance);
        await middleware.InvokeAsync(http, GatewayWithLeader(leader));
        return http;
    }

    /// <summary>A port on 127.0.0.1 nothing listens on (bound, then released).</summary>
    private static int ClosedLoopbackPort()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }

    private static ICoordinationGateway GatewayWithLeader(LeaderAddress leader)
    {
        var gateway = DispatchProxy.Create<ICoordinationGateway, LeaderOnlyGateway>();
        ((LeaderOnlyGateway)(object)gateway).Leader = leader;
        return gateway;
    }

    /// <summary>A gateway that knows only where the leader is; forwarding must not ask it anything else.</summary>
    public class LeaderOnlyGateway : DispatchProxy
    {
        public LeaderAddress? Leader { get; set; }

        protected override object? Invoke(MethodInfo? targetMethod, object?[]? args) =>
            targetMethod?.Name == "get_Leader" ? Leader : throw new InvalidOperationException($"forwarding called {targetMethod?.Name}");
    }
}
