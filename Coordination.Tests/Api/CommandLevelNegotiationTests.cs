using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.Extensions.DependencyInjection;

namespace Coordination.Tests.Api;

/// <summary>
/// A rolling upgrade without the manual step: a member of an older build (its <c>GET /v1/cluster</c>
/// names no decode level) must hold new commands back by itself, until that member runs this build.
/// </summary>
public sealed class CommandLevelNegotiationTests
{
    private static readonly TimeSpan WaitMax = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task A_member_of_an_older_build_holds_new_commands_back_until_it_runs_this_one()
    {
        await using var member = await FakeMember.StartAsync();
        using var factory = new SiloFactory();
        await using var silo = factory.WithWebHostBuilder(b => b.UseSetting("Coordination:CommandLevelPollMs", "20"));
        var client = await silo.ReadyClientAsync();
        Assert.Equal(Coordination.Grains.CommandCodec.LevelCurrent, await CommandLevel(client));
        var session = await client.Session();

        // Silo 2 joins as a learner: its answer, without a decode level, is an older build's.
        await (await client.Post("/v1/cluster/members", new { id = 2, clientUrl = member.Url, peerAddress = $"127.0.0.1:{SiloFactory.FreePort()}" })).Json(HttpStatusCode.OK);
        await UntilLevel(client, 1);
        var survey = silo.Services.GetRequiredService<Coordination.Silo.MemberSurvey>();
        Assert.Null(survey.ClockAheadOfOthers); // silo 2 said nothing of its clock
        var heldBack = await (await client.Post("/v1/locks/negotiated/abandon", new { sessionId = session })).Json(HttpStatusCode.Conflict);
        Assert.Equal("held-back", heldBack.GetProperty("code").GetString());
        Assert.Contains("silo 2", heldBack.GetProperty("detail").GetString(), StringComparison.Ordinal);

        // Upgraded, it answers with this build's level, and the command goes through. Its clock,
        // an hour ahead, shows as its skew.
        member.ClockMs = DateTimeOffset.UtcNow.AddHours(1).ToUnixTimeMilliseconds();
        member.DecodeLevel = 2;
        await UntilLevel(client, 2);
        var abandoned = await (await client.Post("/v1/locks/negotiated/abandon", new { sessionId = session })).Json(HttpStatusCode.OK);
        Assert.Equal("none", abandoned.GetProperty("outcome").GetString());

        var metrics = await client.GetStringAsync("/metrics");
        Assert.Contains("coordination_command_level 2", metrics, StringComparison.Ordinal);
        var skew = System.Text.RegularExpressions.Regex.Match(metrics, "coordination_member_clock_skew_seconds\\{member=\"2\"\\} (\\S+)");
        Assert.True(skew.Success, metrics);
        Assert.InRange(double.Parse(skew.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture), 3_500, 3_700);

        // A new leader extends sessions by how far its clock is ahead of the others' (none here: silo
        // 2's is ahead); an hour behind, silo 2 makes this silo's clock an hour ahead of it.
        Assert.Equal(TimeSpan.Zero, survey.ClockAheadOfOthers);
        member.ClockMs = DateTimeOffset.UtcNow.AddHours(-1).ToUnixTimeMilliseconds();
        await Coordination.Tests.Cluster.ClusterCalls.Until(
            () => Task.FromResult(survey.ClockAheadOfOthers > TimeSpan.FromMinutes(58)), "silo 2's clock measured an hour behind", WaitMax);
        Assert.InRange(silo.Services.GetRequiredService<Coordination.Silo.SiloRuntime>().State.ClockAhead()!.Value, TimeSpan.FromMinutes(58), TimeSpan.FromMinutes(62));
    }

    [Fact]
    public async Task A_silo_that_restarts_while_a_member_is_down_keeps_the_level_the_leader_recorded()
    {
        using var factory = new SiloFactory();
        await using (var member = await FakeMember.StartAsync())
        {
            member.DecodeLevel = 2;
            await using var first = factory.WithWebHostBuilder(b => b.UseSetting("Coordination:CommandLevelPollMs", "20"));
            var client = await first.ReadyClientAsync();
            await (await client.Post("/v1/cluster/members", new { id = 2, clientUrl = member.Url, peerAddress = $"127.0.0.1:{SiloFactory.FreePort()}" })).Json(HttpStatusCode.OK);
            await UntilLevel(client, 2);
            using var bound = new CancellationTokenSource(WaitMax);
            for (var attempt = 0; !await Recorded(client, member: 2, level: 2); attempt++)
            {
                Assert.True(attempt < 1_000, "the leader did not record silo 2's level");
                await Task.Delay(10, bound.Token);
            }
        }

        // Silo 2 is gone and this silo restarts: it has not heard silo 2, but the record says level 2.
        await using var second = factory.WithWebHostBuilder(b => b.UseSetting("Coordination:CommandLevelPollMs", "20"));
        var restarted = await second.ReadyClientAsync();
        var cluster = await (await restarted.GetAsync("/v1/cluster")).Json(HttpStatusCode.OK);
        Assert.Contains(2UL, cluster.GetProperty("learners").EnumerateArray().Select(l => l.GetUInt64()));
        Assert.Equal(2, cluster.GetProperty("commandLevel").GetInt32());
        var abandoned = await (await restarted.Post("/v1/locks/recorded/abandon", new { sessionId = await restarted.Session() })).Json(HttpStatusCode.OK);
        Assert.Equal("none", abandoned.GetProperty("outcome").GetString());
    }

    private static async Task<bool> Recorded(HttpClient client, int member, int level)
    {
        var response = await client.GetAsync("/v1/config/coordination:decode-levels");
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return false;
        }

        var levels = (await response.Json(HttpStatusCode.OK)).GetProperty("value").GetProperty("levels");
        return levels.TryGetProperty(member.ToString(System.Globalization.CultureInfo.InvariantCulture), out var recorded) && recorded.GetInt32() == level;
    }

    private static async Task<int> CommandLevel(HttpClient client) =>
        (await (await client.GetAsync("/v1/cluster")).Json(HttpStatusCode.OK)).GetProperty("commandLevel").GetInt32();

    private static async Task UntilLevel(HttpClient client, int level)
    {
        using var bound = new CancellationTokenSource(WaitMax);
        for (var attempt = 0; await CommandLevel(client) != level; attempt++)
        {
            Assert.True(attempt < 1_000, $"the command level did not become {level}");
            await Task.Delay(10, bound.Token);
        }
    }

    /// <summary>Answers <c>GET /v1/cluster</c> as a silo would, with <see cref="DecodeLevel"/> (none: an older build).</summary>
    private sealed class FakeMember : IAsyncDisposable
    {
        private readonly WebApplication _app;

        private FakeMember(WebApplication app) => _app = app;

        public volatile int DecodeLevel;

        /// <summary>The clock it reports along with a decode level (Unix ms; fixed, as a clock an hour off).</summary>
        public long ClockMs;

        public string Url { get; private set; } = "";

        public static async Task<FakeMember> StartAsync()
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.WebHost.UseUrls("http://127.0.0.1:0");
            var app = builder.Build();
            var member = new FakeMember(app);
            app.MapGet("/v1/cluster", () =>
            {
                return member.DecodeLevel == 0
                    ? Results.Json(new Dictionary<string, object> { ["nodeId"] = 2 })
                    : Results.Json(new Dictionary<string, object> { ["nodeId"] = 2, ["decodeLevel"] = member.DecodeLevel, ["clockMs"] = Interlocked.Read(ref member.ClockMs) });
            });
            await app.StartAsync();
            member.Url = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
            return member;
        }

        public async ValueTask DisposeAsync()
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }
}
