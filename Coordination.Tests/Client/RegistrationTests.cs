using Coordination.Client;
using Microsoft.Extensions.DependencyInjection;

namespace Coordination.Tests.Client;

public sealed class RegistrationTests
{
    [Fact]
    public async Task AddCoordinationClient_registers_one_client_over_the_named_http_client_with_the_configured_endpoints()
    {
        var handler = new FakeHandler().Json("GET", "http://b:5080/v1/sequences/ids", """{"name": "ids", "last": 3}""");
        var services = new ServiceCollection();
        services.AddCoordinationClient(o => o.Endpoints = [new Uri(ClientFixture.B)])
            .ConfigurePrimaryHttpMessageHandler(() => handler);
        await using var provider = services.BuildServiceProvider();

        var client = provider.GetRequiredService<CoordinationClient>();

        Assert.Same(client, provider.GetRequiredService<CoordinationClient>());
        Assert.Equal(3, await client.GetSequenceAsync("ids"));
        Assert.Equal([new Uri(ClientFixture.B)], client.Options.Endpoints);
    }

    [Fact]
    public void Invalid_options_are_refused_when_the_client_is_resolved()
    {
        var services = new ServiceCollection();
        services.AddCoordinationClient(o => o.Endpoints = []);
        using var provider = services.BuildServiceProvider();

        Assert.Throws<ArgumentException>(() => provider.GetRequiredService<CoordinationClient>());
    }

    [Theory]
    [InlineData(0)]
    [InlineData(61)]
    public void A_watch_poll_longer_than_a_silo_allows_or_zero_is_refused(int seconds)
    {
        var options = new CoordinationClientOptions { Endpoints = [new Uri(ClientFixture.B)], WatchPollWait = TimeSpan.FromSeconds(seconds) };
        Assert.Throws<ArgumentException>(options.Validate);
        options.WatchPollWait = CoordinationClientOptions.WatchPollWaitMax;
        options.Validate();
    }

    [Theory]
    [InlineData("http://a:5080", 1)]
    [InlineData(" http://a:5080 , http://b:5080,", 2)]
    public void Endpoint_lists_parse_from_comma_separated_text(string text, int count)
    {
        Assert.Equal(count, CoordinationClientOptions.ParseEndpoints(text).Count);
    }

    [Fact]
    public void An_endpoint_list_with_anything_but_http_urls_is_refused()
    {
        Assert.Throws<FormatException>(() => CoordinationClientOptions.ParseEndpoints("http://a:5080,/v1/cluster"));
        Assert.Throws<FormatException>(() => CoordinationClientOptions.ParseEndpoints("ftp://a:21"));
    }
}
