using Coordination.Client;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers <see cref="CoordinationClient"/> with the DI container.</summary>
public static class CoordinationServiceCollectionExtensions
{
    /// <summary>The name of the <see cref="HttpClient"/> the client gets from IHttpClientFactory.</summary>
    public const string HttpClientName = "Coordination";

    /// <summary>
    /// Adds one <see cref="CoordinationClient"/> (a singleton: it holds the leader it learned) over a named
    /// HttpClient from IHttpClientFactory. Returns the HttpClient builder for further handler configuration.
    /// </summary>
    public static IHttpClientBuilder AddCoordinationClient(this IServiceCollection services, Action<CoordinationClientOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        services.AddOptions<CoordinationClientOptions>().Configure(configure).Validate(o =>
        {
            o.Validate();
            return true;
        });
        services.AddSingleton(sp => new CoordinationClient(
            sp.GetRequiredService<IHttpClientFactory>().CreateClient(HttpClientName),
            sp.GetRequiredService<IOptions<CoordinationClientOptions>>().Value));
        return services.AddHttpClient(HttpClientName, http => http.Timeout = Timeout.InfiniteTimeSpan)
            // More HTTP/2 connections past a silo's stream limit (UseHttp2): waiting long-polls must not hold up keep-alives.
            .ConfigurePrimaryHttpMessageHandler(() => new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(2), EnableMultipleHttp2Connections = true })
            // The singleton keeps its HttpClient; the pooled connection lifetime above handles DNS changes instead.
            .SetHandlerLifetime(Timeout.InfiniteTimeSpan);
    }
}
