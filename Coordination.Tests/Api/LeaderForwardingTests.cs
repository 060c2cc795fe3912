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

        // Not no-leader (retry): the outcome is unknown.
        Assert.Equal((504, "timeout"), (http.Response.StatusCode, ProblemCode(http)));
        Assert.Empty(_seen);
    }

    [Fact]
    public async Task A_write_whose_connection_resets_after_the_leader_read_it_is_outcome_unknown_not_no_leader()
    {
        // The "leader" reads the whole request, then resets the connection without answering.
        using var leaderPort = new TcpListener(IPAddress.Loopback, 0);
        leaderPort.Start();
        var breaker = Task.Run(async () =>
        {
            using var connection = await leaderPort.AcceptSocketAsync();
            var received = new List<byte>();
            var buffer = new byte[4096];
            for (var reads = 0; reads < 100 && !System.Text.Encoding.UTF8.GetString([.. received]).Contains("""{"value":1}""", StringComparison.Ordinal); reads++)
            {
                var count = await connection.ReceiveAsync(buffer);
                if (count == 0)
                {
                    break;
                }

                received.AddRange(buffer.AsSpan(0, count));
            }

            connection.LingerState = new LingerOption(true, 0);
            return System.Text.Encoding.UTF8.GetString([.. received]);
        });

        var http = await ForwardAsync("HTTP/1.1", new LeaderAddress(new Uri($"http://127.0.0.1:{((IPEndPoint)leaderPort.LocalEndpoint).Port}"), null));

        Assert.EndsWith("""{"value":1}""", await breaker.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal((504, "timeout"), (http.Response.StatusCode, ProblemCode(http)));
        Assert.Equal("", http.Response.Headers.RetryAfter.ToString());
    }

    [Fact]
    public async Task A_forward_that_times_out_after_it_was_sent_is_outcome_unknown()
    {
        // HttpClient reports its own timeout as a cancellation nobody asked for, whatever the handler threw.
        var sent = 0;
        var handler = new StubHandler((_, _) =>
        {
            Interlocked.Increment(ref sent);
            throw new TaskCanceledException("scripted: no answer in time", new TimeoutException());
        });

        var http = await ForwardAsync("HTTP/1.1", new LeaderAddress(_leaderUrl, null), new OneClientFactory(handler));

        Assert.Equal(1, sent);
        Assert.Equal((504, "timeout"), (http.Response.StatusCode, ProblemCode(http)));
    }

    [Fact]
    public async Task A_connect_that_hangs_past_the_connect_timeout_is_no_leader()
    {
        var time = new Coordination.Tests.Client.ManualTimeProvider();
        var connecting = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var handler = new SocketsHttpHandler
        {
            // The connect the silo uses, over a network that drops every packet.
            ConnectCallback = LeaderForwardingMiddleware.Connector(LeaderForwardingMiddleware.ConnectTimeout, time, async (_, cancellation) =>
            {
                connecting.TrySetResult();
                await Task.Delay(Timeout.Infinite, cancellation);
                throw new InvalidOperationException("unreachable");
            }),
        };

        var forwarding = ForwardAsync("HTTP/1.1", new LeaderAddress(_leaderUrl, null), new OneClientFactory(handler));
        await connecting.Task.WaitAsync(TimeSpan.FromSeconds(10));
        await time.WaitForTimerAsync(LeaderForwardingMiddleware.ConnectTimeout);
        time.Advance(LeaderForwardingMiddleware.ConnectTimeout);
        var http = await forwarding.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal((503, "no-leader"), (http.Response.StatusCode, ProblemCode(http)));
        Assert.Equal("1", http.Response.Headers.RetryAfter.ToString());
        Assert.Empty(_seen);
    }

    [Fact]
    public async Task A_leader_that_answers_on_no_url_is_no_leader_with_a_retry_hint()
    {
        var http = await ForwardAsync("HTTP/2", new LeaderAddress(new Uri($"http://127.0.0.1:{ClosedLoopbackPort()}"), new Uri($"http://127.0.0.1:{ClosedLoopbackPort()}")));

        Assert.Equal((503, "no-leader"), (http.Response.StatusCode, ProblemCode(http)));
        Assert.Equal("1", http.Response.Headers.RetryAfter.ToString());
        Assert.Empty(_seen);
    }

    /// <summary>Forwards a PUT through the middleware with the silo's own forwarding client, or <paramref name="clients"/>.</summary>
    private static async Task<DefaultHttpContext> ForwardAsync(string protocol, LeaderAddress leader, IHttpClientFactory? clients = null)
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
        var middleware = new LeaderForwardingMiddleware(_ => throw new InvalidOperationException("a write reached the follower's own handler"), clients ?? services.GetRequiredService<IHttpClientFactory>(), NullLogger<LeaderForwardingMiddleware>.Instance);
        await middleware.InvokeAsync(http, GatewayWithLeader(leader));
        return http;
    }

    private static string? ProblemCode(DefaultHttpContext http)
    {
        var body = ((MemoryStream)http.Response.Body).ToArray();
        return body.Length == 0 ? null : System.Text.Json.JsonDocument.Parse(body).RootElement.GetProperty("code").GetString();
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

    /// <summary>Every client over one handler, with the silo's forwarding timeout.</summary>
    private sealed class OneClientFactory(HttpMessageHandler handler) : IHttpClientFactory
    {
        public HttpClient CreateClient(string name) => new(handler, disposeHandler: false) { Timeout = LeaderForwardingMiddleware.ForwardTimeout };
    }

    private sealed class StubHandler(Func<HttpRequestMessage, CancellationToken, Task<HttpResponseMessage>> send) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken) => send(request, cancellationToken);
    }

    /// <summary>A gateway that knows only where the leader is; forwarding must not ask it anything else.</summary>
    public class LeaderOnlyGateway : DispatchProxy
    {
        public LeaderAddress? Leader { get; set; }

        protected override object? Invoke(MethodInfo? targetMethod, object?[]? args) =>
            targetMethod?.Name == "get_Leader" ? Leader : throw new InvalidOperationException($"forwarding called {targetMethod?.Name}");
    }
}
