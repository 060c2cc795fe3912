extern alias bench;

using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using bench::Coordination.Bench;
using Coordination.Client;
using Coordination.Tests.Api;

namespace Coordination.Tests.Cluster;

/// <summary>
/// The load tool's own checks on three real silo processes, briefly: every workload shape it reports
/// figures for must also be right, over REST and through the .NET client, over HTTP/1.1 and HTTP/2
/// (each silo also serves the API over HTTP/2 without TLS on a fourth port).
/// </summary>
public sealed class LoadToolTests : IAsyncLifetime
{
    private static readonly TimeSpan RunFor = TimeSpan.FromSeconds(1);

    private readonly Dictionary<ulong, int> _http2Ports = Enumerable.Range(1, 3).ToDictionary(id => (ulong)id, _ => SiloFactory.FreePort());
    private SiloProcessCluster _cluster = null!;

    public Task InitializeAsync()
    {
        var ports = _http2Ports.Keys.ToDictionary(id => id, _ => (Client: SiloFactory.FreePort(), Peer: SiloFactory.FreePort()));
        var members = string.Join(",", ports.Select(p => $"{p.Key}=127.0.0.1:{p.Value.Client}:{p.Value.Peer}:{_http2Ports[p.Key]}"));
        _cluster = new SiloProcessCluster(ports, _ => members);
        return _cluster.LeaderAsync();
    }

    private Uri Http2Url(ulong id) => new($"http://127.0.0.1:{_http2Ports[id]}/");

    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    [Theory]
    [InlineData("rest", "lock-contended")]
    [InlineData("client", "lock-contended")]
    [InlineData("client", "lock-contended-txn")]
    [InlineData("rest", "lock-contended-fetch")]
    [InlineData("client", "lock-contended-fetch")]
    [InlineData("rest-http2", "lock-contended")]
    [InlineData("client-http2", "lock-contended")]
    public async Task A_contended_lock_counts_every_grant_exactly_once(string api, string workload)
    {
        var result = await RunAsync(api, workload, clients: 8);

        Assert.True(result.Operations > 0, $"no grants in {RunFor}");
        Assert.Equal(0, result.Errors);
        Assert.Equal($"count {result.Operations} = grants", result.Note!.Split(';')[0]);
    }

    [Theory]
    [InlineData("rest", "watch-latency")]
    [InlineData("rest", "watch-latency-stream")]
    [InlineData("client", "watch-latency")]
    public async Task Every_watcher_is_notified_of_the_puts(string api, string workload)
    {
        var result = await RunAsync(api, workload, clients: 3);

        Assert.Equal(0, result.Errors);
        Assert.True(result.Operations >= 3 * 10, $"{result.Operations} notifications to 3 watchers of a put every 5 ms for {RunFor}");
        Assert.Contains("from its ack", result.Note);
    }

    [Fact]
    public async Task The_http2_port_serves_the_same_api_and_every_silo_lists_every_http2_url()
    {
        var leader = await _cluster.LeaderAsync();
        var follower = _cluster.Ids.First(id => id != leader);
        using var http2 = new HttpClient { DefaultRequestVersion = HttpVersion.Version20, DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact, Timeout = TimeSpan.FromSeconds(30) };

        // A write over HTTP/2 to a follower is forwarded to the leader over HTTP/2 (Via names the
        // protocol the leader answered over) and read back over HTTP/1.1.
        using var put = await http2.PutAsJsonAsync(new Uri(Http2Url(follower), "v1/config/over-http2"), new { value = new { replicas = 5 } });
        Assert.Equal((HttpStatusCode.OK, HttpVersion.Version20), (put.StatusCode, put.Version));
        Assert.Equal(["2 coordination"], put.Headers.Via.Select(v => v.ToString()));
        using var http1 = _cluster.Client(leader);
        var read = await http1.GetFromJsonAsync<JsonElement>("/v1/config/over-http2");
        Assert.Equal(5, read.GetProperty("value").GetProperty("replicas").GetInt32());

        // Over HTTP/1.1 a follower forwards over HTTP/1.1; the leader itself answers without Via.
        using var viaFollower = _cluster.Client(follower);
        using var put1 = await viaFollower.PutAsJsonAsync("/v1/config/over-http1", new { value = 1 });
        Assert.Equal(["1.1 coordination"], put1.Headers.Via.Select(v => v.ToString()));
        using var direct = await http2.PutAsJsonAsync(new Uri(Http2Url(leader), "v1/config/over-http2"), new { value = new { replicas = 6 } });
        Assert.Equal(HttpStatusCode.OK, direct.StatusCode);
        Assert.Empty(direct.Headers.Via);

        var cluster = await http2.GetFromJsonAsync<JsonElement>(new Uri(Http2Url(follower), "v1/cluster"));
        Assert.Equal(
            _cluster.Ids.Select(id => Http2Url(id).ToString().TrimEnd('/')),
            cluster.GetProperty("members").EnumerateArray().OrderBy(m => m.GetProperty("id").GetUInt64()).Select(m => m.GetProperty("http2Url").GetString()));

        // Each port speaks only its own protocol (without TLS there is nothing to negotiate with).
        using var http1ToHttp2Port = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        using var refused = await http1ToHttp2Port.GetAsync(new Uri(Http2Url(follower), "v1/cluster"));
        Assert.False(refused.IsSuccessStatusCode);
        await Assert.ThrowsAsync<HttpRequestException>(() => http2.GetAsync(new Uri(_cluster.Url(follower), "/v1/cluster")));
    }

    [Fact]
    public async Task The_client_over_http2_given_one_follower_learns_the_leaders_http2_url_and_writes_there()
    {
        var leader = await _cluster.LeaderAsync();
        var follower = _cluster.Ids.First(id => id != leader);
        using var client = new CoordinationClient(new CoordinationClientOptions { Endpoints = [Http2Url(follower)], UseHttp2 = true });

        var written = await client.PutConfigAsync("client-over-http2", JsonDocument.Parse("""{"replicas": 7}""").RootElement);

        Assert.True(written.Version >= 1);
        Assert.Equal(Http2Url(leader), client.KnownLeader);
        var read = await client.GetConfigAsync("client-over-http2");
        Assert.Equal(7, read!.Value.GetProperty("replicas").GetInt32());
    }

    private async Task<LoadResult> RunAsync(string api, string workload, int clients)
    {
        var http2 = api.EndsWith("-http2", StringComparison.Ordinal);
        var urls = http2 ? _cluster.Ids.Select(Http2Url).ToArray() : _cluster.Urls.ToArray();
        using var rest = new RestCluster(urls, http2 ? HttpVersion.Version20 : HttpVersion.Version11);
        await rest.DiscoverLeaderAsync();
        var through = api.StartsWith("client", StringComparison.Ordinal)
            ? urls.Select(u => new CoordinationClient(new CoordinationClientOptions { Endpoints = [u, .. urls.Where(o => o != u)], UseHttp2 = http2 })).ToArray()
            : null;
        try
        {
            var workloads = new Workloads(rest, RunFor, [], clusterDirectory: null) { Clients = through };
            return await workloads.RunAsync(workload, clients).WaitAsync(TimeSpan.FromSeconds(60));
        }
        finally
        {
            foreach (var client in through ?? [])
            {
                client.Dispose();
            }
        }
    }
}
