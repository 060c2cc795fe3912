using System.Diagnostics;
using System.Net;
using Coordination.Tests.Api;

namespace Coordination.Tests.Cluster;

/// <summary>
/// A silo process whose client URLs come from the host's `urls` setting (ASPNETCORE_URLS, here
/// `--urls`, as the container image sets it) still opens its HTTP/2 port from `--members`, and serves
/// HTTP/1.1 where `urls` says.
/// </summary>
public sealed class Http2PortTests
{
    [Fact]
    public async Task With_urls_set_the_silo_serves_http1_there_and_http2_on_its_fourth_port()
    {
        var (client, peer, http2, urls) = (SiloFactory.FreePort(), SiloFactory.FreePort(), SiloFactory.FreePort(), SiloFactory.FreePort());
        var ports = new Dictionary<ulong, (int Client, int Peer)> { [1] = (client, peer) };
        await using var silo = new SiloProcessCluster(ports, _ => $"1=127.0.0.1:{client}:{peer}:{http2}", "--urls", $"http://127.0.0.1:{urls}");
        using var http1 = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        using var overHttp2 = new HttpClient { DefaultRequestVersion = HttpVersion.Version20, DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact, Timeout = TimeSpan.FromSeconds(5) };

        var ready = await UntilOkAsync(http1, new Uri($"http://127.0.0.1:{urls}/readyz"));
        Assert.Equal(HttpVersion.Version11, ready.Version);
        var viaHttp2 = await UntilOkAsync(overHttp2, new Uri($"http://127.0.0.1:{http2}/v1/cluster"));
        Assert.Equal(HttpVersion.Version20, viaHttp2.Version);
        Assert.Contains($"\"http2Url\":\"http://127.0.0.1:{http2}\"", await viaHttp2.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    private static async Task<HttpResponseMessage> UntilOkAsync(HttpClient http, Uri uri)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                var response = await http.GetAsync(uri);
                if (response.IsSuccessStatusCode)
                {
                    return response;
                }
            }
            catch (HttpRequestException) when (deadline.Elapsed < TimeSpan.FromSeconds(30))
            {
            }
            catch (TaskCanceledException) when (deadline.Elapsed < TimeSpan.FromSeconds(30))
            {
            }

            Assert.True(deadline.Elapsed < TimeSpan.FromSeconds(30), $"{uri} did not answer 200 within 30 s");
            await Task.Delay(50);
        }
    }
}
