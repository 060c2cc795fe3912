using System.Net;
using Coordination.Tests.Silo;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;

namespace Coordination.Tests.Api;

/// <summary>
/// The silo's wall clock jumps an hour ahead (an NTP step, a clock set by hand) while clients keep
/// their sessions alive. Log time decides expiry, so if entry stamps followed the step every session
/// would expire at once and free its locks.
/// </summary>
public sealed class ClockStepApiTests(SiloFactory silo) : IClassFixture<SiloFactory>
{
    [Fact]
    public async Task A_wall_clock_that_jumps_an_hour_ahead_expires_no_session_and_stamps_no_write_in_the_future()
    {
        var clock = new SteppableTimeProvider();
        await using var stepped = silo.WithWebHostBuilder(b => b.ConfigureTestServices(s => s.AddSingleton<TimeProvider>(clock)));
        var client = await stepped.ReadyClientAsync();
        var session = await client.Session(ttlMs: 60_000);
        var lockToken = (await (await client.Post("/v1/locks/clock-step/acquire", new { sessionId = session })).Json(HttpStatusCode.OK)).GetProperty("token").GetUInt64();
        var before = clock.GetUtcNow().ToUnixTimeMilliseconds();

        clock.StepWall(TimeSpan.FromHours(1));
        await (await client.Put("/v1/config/clock-step", new { value = 1 })).Json(HttpStatusCode.OK);
        var written = (await (await client.GetAsync("/v1/config/clock-step")).Json(HttpStatusCode.OK)).GetProperty("writtenMs").GetInt64();
        var renewed = await (await client.Post($"/v1/sessions/{session}/keepalive")).Json(HttpStatusCode.OK);

        Assert.InRange(written - before, 0, 60_000);
        Assert.InRange(renewed.GetProperty("deadlineMs").GetInt64() - before, 0, 2 * 60_000);
        var holder = (await (await client.GetAsync("/v1/locks/clock-step")).Json(HttpStatusCode.OK)).GetProperty("holders").EnumerateArray().Single();
        Assert.Equal(lockToken, holder.GetProperty("token").GetUInt64());
    }
}
