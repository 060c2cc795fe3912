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
    private readonly List<Socket> _heldPorts = [];
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
        _heldPorts.ForEach(p => p.Dispose());
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
        // Something listens on the HTTP/2 URL: an HTTP/1.1 write must not even connect there.
        using var http2Port = new TcpListener(IPAddress.Loopback, 0);
        http2Port.Start();
        var http = await ForwardAsync("HTTP/1.1", new LeaderAddress(_leaderUrl, new Uri($"http://127.0.0.1:{((IPEndPoint)http2Port.LocalEndpoint).Port}")));

        Assert.Equal(200, http.Response.StatusCode);
        Assert.Equal("1.1 coordination", http.Response.Headers.Via.ToString());
        Assert.Equal("1.1 coordination", Assert.Single(_seen).Via);
        Assert.False(http2Port.Pending(), "the HTTP/1.1 write connected to the leader's HTTP/2 port");
    }

    [Fact]
    public async Task A_write_whose_http2_connection_breaks_after_connecting_is_not_sent_again_over_http1()
    {
        // The HTTP/2 port accepts, reads what arrives, and resets the connection: the write may have
        // reached the leader, so the follower must not try the client URL too.
        using var http2Port = new TcpListener(IPAddress.Loopback, 0);
        http2Port.Start();
        var breaker = Task.Run(async () =>
        {
            using var connection = await http2Port.AcceptSocketAsync();
            var buffer = new byte[4096];
            await connection.ReceiveAsync(buffer);
            connection.LingerState = new LingerOption(true, 0);
        });

        var http = await ForwardAsync("HTTP/2", new LeaderAddress(_leaderUrl, new Uri($"http://127.0.0.1:{((IPEndPoint)http2Port.LocalEndpoint).Port}")));
        await breaker.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(503, http.Response.StatusCode);
        Assert.Empty(_seen);
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
        // The forwarding client as the silo configures it (handler, timeouts).
        using var services = new ServiceCollection().AddLogging().AddCoordinationApi().BuildServiceProvider();
        var middleware = new LeaderForwardingMiddleware(_ => throw new InvalidOperationException("a write reached the follower's own handler"), services.GetRequiredService<IHttpClientFactory>(), NullLogger<LeaderForwardingMiddleware>.Instance);
        await middleware.InvokeAsync(http, GatewayWithLeader(leader));
        return http;
    }

    /// <summary>
    /// A port on 127.0.0.1 that refuses connections: bound (so no other test can take it, and no
    /// socket can connect to itself through it) but not listening, until the test ends.
    /// </summary>
    private int ClosedLoopbackPort()
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _heldPorts.Add(socket);
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
