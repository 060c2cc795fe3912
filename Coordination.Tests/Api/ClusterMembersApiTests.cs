using System.Net;
using System.Text.Json;

namespace Coordination.Tests.Api;

/// <summary>Adding a silo with its HTTP/2 URL: the address book keeps it, and a URL that cannot be one is refused and changes nothing.</summary>
public sealed class ClusterMembersApiTests : IAsyncLifetime
{
    private readonly SiloFactory _silo = new();

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _silo.DisposeAsync();

    [Theory]
    [InlineData("https://127.0.0.1:7092")]      // TLS: the HTTP/2 port is cleartext (TLS negotiates HTTP/2 on the client port)
    [InlineData("http://127.0.0.1")]            // no port
    [InlineData("http://127.0.0.1:5092")]       // the client port
    [InlineData("http://127.0.0.1:6092")]       // the peer port
    [InlineData("http://127.0.0.1:7092/v1")]    // a path
    [InlineData("http://127.0.0.1:7092/?a=1")]  // a query
    [InlineData("not a url")]
    public async Task A_silo_whose_http2_url_cannot_be_one_is_refused_and_the_address_book_is_unchanged(string http2Url)
    {
        var client = await _silo.ReadyClientAsync();
        var before = await (await client.GetAsync("/v1/cluster")).Json(HttpStatusCode.OK);

        var refused = await client.Post("/v1/cluster/members", new { id = 2, clientUrl = "http://127.0.0.1:5092", peerAddress = "127.0.0.1:6092", http2Url });

        Assert.Equal("validation", await refused.Problem(HttpStatusCode.BadRequest));
        var after = await (await client.GetAsync("/v1/cluster")).Json(HttpStatusCode.OK);
        Assert.Equal(Members(before), Members(after));
        Assert.Empty(after.GetProperty("learners").EnumerateArray());
    }

    [Fact]
    public async Task A_silo_added_with_its_http2_url_is_listed_with_it_and_the_field_at_fault_is_named()
    {
        var client = await _silo.ReadyClientAsync();

        var added = await (await client.Post("/v1/cluster/members", new { id = 2, clientUrl = "http://127.0.0.1:5092", peerAddress = "127.0.0.1:6092", http2Url = "http://127.0.0.1:7092" })).Json(HttpStatusCode.OK);

        var member = added.GetProperty("members").EnumerateArray().Single(m => m.GetProperty("id").GetUInt64() == 2);
        Assert.Equal("http://127.0.0.1:7092", member.GetProperty("http2Url").GetString());
        var badPeer = await client.Post("/v1/cluster/members", new { id = 3, clientUrl = "http://127.0.0.1:5093", peerAddress = "127.0.0.1:x" });
        var problem = JsonDocument.Parse(await badPeer.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal(HttpStatusCode.BadRequest, badPeer.StatusCode);
        Assert.True(problem.GetProperty("errors").TryGetProperty("peerAddress", out _), problem.ToString());
    }

    private static string Members(JsonElement cluster) => cluster.GetProperty("members").ToString();
}
