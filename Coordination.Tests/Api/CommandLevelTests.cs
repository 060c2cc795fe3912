using System.Net;
using Coordination.Grains;
using Coordination.Silo;
using Microsoft.AspNetCore.Hosting;

namespace Coordination.Tests.Api;

/// <summary>
/// A rolling upgrade from a build that cannot decode a newer command: the upgraded silos run with a
/// lowered <c>Coordination:CommandLevel</c> and must not put such a command in the log.
/// </summary>
public sealed class CommandLevelTests(SiloFactory silo) : IClassFixture<SiloFactory>
{
    [Fact]
    public async Task A_silo_whose_command_level_is_lowered_holds_newer_commands_back_and_lock_waits_still_end()
    {
        await using var held = silo.WithWebHostBuilder(b => b.UseSetting("Coordination:CommandLevel", "1"));
        var client = await held.ReadyClientAsync();
        var (holder, waiter) = (await client.Session(), await client.Session());
        await (await client.Post("/v1/locks/api-level/acquire", new { sessionId = holder })).Json(HttpStatusCode.OK);

        Assert.Equal("held-back", await (await client.Post("/v1/locks/api-level/abandon", new { sessionId = waiter })).Problem(HttpStatusCode.Conflict));

        // The blocking acquire cannot abandon its wait when it ends: it answers as before the abandon existed.
        Assert.Equal("lock-wait-timeout", await (await client.Post("/v1/locks/api-level/acquire", new { sessionId = waiter, waitMs = 200 })).Problem(HttpStatusCode.Conflict));
        var info = await (await client.GetAsync("/v1/locks/api-level")).Json(HttpStatusCode.OK);
        Assert.Equal(holder, info.GetProperty("holders").EnumerateArray().Single().GetProperty("sessionId").GetUInt64());
    }

    [Fact]
    public void A_command_level_outside_this_build_is_refused_at_start()
    {
        foreach (var level in new[] { 0, CommandCodec.LevelCurrent + 1 })
        {
            var options = new SiloOptions { CommandLevel = level };
            Assert.Throws<ArgumentException>(options.Validate);
        }

        new SiloOptions { CommandLevel = 1 }.Validate();
    }
}
