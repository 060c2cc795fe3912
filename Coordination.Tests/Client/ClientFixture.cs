using System.Net;
using Coordination.Client;

namespace Coordination.Tests.Client;

/// <summary>Builds clients over a <see cref="FakeHandler"/> with retry delays of zero, so retries never wait.</summary>
internal static class ClientFixture
{
    public const string A = "http://a:5080/";
    public const string B = "http://b:5080/";
    public const string C = "http://c:5080/";

    public static CoordinationClient Create(FakeHandler handler, Action<CoordinationClientOptions>? configure = null, params string[] endpoints)
    {
        var options = new CoordinationClientOptions
        {
            Endpoints = (endpoints.Length == 0 ? [A] : endpoints).Select(e => new Uri(e)).ToList(),
            RetryAttemptsMax = 3,
            RetryBaseDelay = TimeSpan.Zero,
            RetryDelayMax = TimeSpan.Zero,
            LeaderChangeRetryDelayMax = TimeSpan.Zero,
            WatchRetryDelay = TimeSpan.Zero,
        };
        configure?.Invoke(options);
        return new CoordinationClient(new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan }, options);
    }

    /// <summary>A client of an in-process silo (over its test server), once the silo has a leader.</summary>
    public static async Task<CoordinationClient> ReadyCoordinationClientAsync(this Api.SiloFactory silo, TimeSpan? watchPollWait = null)
    {
        using var ready = await Api.Http.ReadyClientAsync(silo);
        return new CoordinationClient(new HttpClient(silo.Server.CreateHandler()) { Timeout = Timeout.InfiniteTimeSpan }, new CoordinationClientOptions
        {
            Endpoints = [silo.Server.BaseAddress],
            RetryBaseDelay = TimeSpan.FromMilliseconds(10),
            WatchPollWait = watchPollWait ?? new CoordinationClientOptions().WatchPollWait,
        });
    }

    /// <summary>Scripts <c>GET /v1/cluster</c> on <paramref name="at"/> (a base URL, or "/" for any silo): silos 1, 2, 3 at A, B, C and the given leader.</summary>
    public static FakeHandler Cluster(this FakeHandler handler, string at, int? leader, int times = 1) =>
        handler.Json("GET", at + "v1/cluster", $$"""
            {"nodeId": 1, "role": "follower", "term": 4, "leader": {{(leader is null ? "null" : leader.ToString())}}, "commitIndex": 90, "appliedIndex": 90,
             "firstIndex": 1, "lastIndex": 90, "voters": [1, 2, 3], "learners": [],
             "members": [{"id": 1, "clientUrl": "{{A.TrimEnd('/')}}", "peerAddress": "a:5081"},
                         {"id": 2, "clientUrl": "{{B.TrimEnd('/')}}", "peerAddress": "b:5081"},
                         {"id": 3, "clientUrl": "{{C.TrimEnd('/')}}", "peerAddress": "c:5081"}]}
            """, HttpStatusCode.OK, times);

    /// <summary>Scripts <c>POST /v1/sessions</c> answering session <paramref name="id"/>.</summary>
    public static FakeHandler SessionCreated(this FakeHandler handler, long id, long ttlMs) =>
        handler.Json("POST", "/v1/sessions", $$"""{"sessionId": {{id}}, "ttlMs": {{ttlMs}}, "deadlineMs": 1763700000000}""", HttpStatusCode.Created);
}
