using Coordination.Client;
using Coordination.Tests.Api;

namespace Coordination.Tests.Client;

/// <summary>
/// A campaign given up on (cancelled while queued) resigns: otherwise the session's keep-alive keeps the
/// candidacy, it is elected when the leader resigns, and the election is led by nobody who acts on it.
/// </summary>
public sealed class ElectionGiveUpClientTests(SiloFactory silo) : IClassFixture<SiloFactory>
{
    private static readonly TimeSpan WaitMax = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task Cancelling_CampaignUntilLeaderAsync_resigns_so_the_next_candidate_leads()
    {
        using var client = await silo.ReadyCoordinationClientAsync();
        await using var leader = await client.CreateSessionAsync(TimeSpan.FromSeconds(30));
        await using var gaveUp = await client.CreateSessionAsync(TimeSpan.FromSeconds(30));
        await using var next = await client.CreateSessionAsync(TimeSpan.FromSeconds(30));
        var leaderToken = await leader.CampaignUntilLeaderAsync("it-elect").WaitAsync(WaitMax);

        using var cancel = new CancellationTokenSource();
        var campaigning = gaveUp.CampaignUntilLeaderAsync("it-elect", cancellationToken: cancel.Token);
        await CandidateAsync(client, "it-elect", gaveUp.Id);
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => campaigning.WaitAsync(WaitMax));
        Assert.DoesNotContain((await client.GetElectionAsync("it-elect")).Candidates, c => c.SessionId == gaveUp.Id);

        // Before the fix the abandoned candidacy was next in line and took the leadership.
        var nextCampaign = next.CampaignUntilLeaderAsync("it-elect");
        await leader.ResignAsync("it-elect");
        Assert.True(await nextCampaign.WaitAsync(WaitMax) > leaderToken);
    }

    /// <summary>Polls the election until <paramref name="sessionId"/> is a candidate (bounded).</summary>
    private static async Task CandidateAsync(CoordinationClient client, string name, long sessionId)
    {
        for (var round = 0; round < 2_000; round++)
        {
            if ((await client.GetElectionAsync(name)).Candidates.Any(c => c.SessionId == sessionId))
            {
                return;
            }

            await Task.Delay(10);
        }

        throw new TimeoutException($"session {sessionId} never became a candidate of {name}");
    }
}
