using System.Diagnostics;
using System.Net;

namespace Coordination.Tests.Faults;

/// <summary>
/// Membership changes as an operator makes them (docs/api.md, `/v1/cluster/members`: add a silo as a learner, promote
/// it once caught up, remove a silo), each retried in a bounded loop while the cluster is faulty:
/// every attempt first asks the leader with the highest term for the membership it has, so an
/// attempt whose outcome was lost is neither repeated blindly nor taken for done. Called from the
/// nemesis thread only.
/// </summary>
public sealed class ClusterOperator(FaultCluster cluster)
{
    /// <summary>How long one change may take, faults included, before the run fails.</summary>
    public static readonly TimeSpan ChangeWaitMax = TimeSpan.FromSeconds(60);

    public const int AttemptsMax = 400;
    private static readonly TimeSpan RetryDelay = TimeSpan.FromMilliseconds(200);

    /// <summary>Adds <paramref name="id"/> as a learner and promotes it once it has caught up; returns the attempts it took.</summary>
    public Task<int> AddAsync(ulong id, string clientUrl, string peerAddress) =>
        ChangeAsync($"add silo {id}", view => view.Voters.Contains(id) ? (true, null)
            : view.Learners.Contains(id) ? (false, (HttpMethod.Post, $"/v1/cluster/members/{id}/promote", null))
            : (false, (HttpMethod.Post, "/v1/cluster/members", new { id, clientUrl, peerAddress })));

    /// <summary>Removes <paramref name="id"/> (a leader that removes itself steps down); returns the attempts it took.</summary>
    public Task<int> RemoveAsync(ulong id) =>
        ChangeAsync($"remove silo {id}", view => !view.Voters.Contains(id) && !view.Learners.Contains(id) ? (true, null)
            : (false, (HttpMethod.Delete, $"/v1/cluster/members/{id}", null)));

    private async Task<int> ChangeAsync(string what, Func<(ulong Leader, ulong[] Voters, ulong[] Learners), (bool Done, (HttpMethod Method, string Path, object? Body)? Next)> step)
    {
        using var http = new FaultHttp(TimeSpan.FromSeconds(3));
        var clock = Stopwatch.StartNew();
        var answers = new List<string>();
        for (var attempt = 1; attempt <= AttemptsMax && clock.Elapsed < ChangeWaitMax; attempt++)
        {
            if (await ViewAsync(http) is { } view)
            {
                var (done, next) = step(view);
                if (done)
                {
                    return attempt;
                }

                var (method, path, body) = next!.Value;
                var reply = await http.Send(cluster.Url(view.Leader), method, path, body);
                var promoteOrRemove = method != HttpMethod.Post || path.EndsWith("/promote", StringComparison.Ordinal);
                if (reply.Is(HttpStatusCode.OK) && promoteOrRemove)
                {
                    // Answered after the change was applied: committed.
                    return attempt;
                }

                // Retried: lost answers, no leader, another change pending, a learner still catching up,
                // and a change the leader's view made stale (invalid-membership-change).
                if (reply.Delivery == Delivery.Answered && !reply.Is(HttpStatusCode.OK)
                    && reply.Code is not ("no-leader" or "membership-change-pending" or "learner-not-caught-up" or "invalid-membership-change"))
                {
                    throw new InvalidOperationException($"{what}: {method} {path} answered {(int)reply.Status} {reply.Code}");
                }

                answers.Add(reply.Delivery == Delivery.Answered ? $"{(int)reply.Status} {reply.Code}" : reply.Delivery.ToString());
            }

            await Task.Delay(RetryDelay);
        }

        throw new TimeoutException($"{what} did not complete within {AttemptsMax} attempts or {ChangeWaitMax}; answers: {string.Join(", ", answers.TakeLast(10))}");
    }

    // The membership as the leader with the highest term has it, or null without a leader that answers.
    private async Task<(ulong Leader, ulong[] Voters, ulong[] Learners)?> ViewAsync(FaultHttp http)
    {
        var leader = await cluster.CurrentLeaderAsync();
        if (leader == 0)
        {
            return null;
        }

        var reply = await http.Send(cluster.Url(leader), HttpMethod.Get, "/v1/cluster");
        if (!reply.Is(HttpStatusCode.OK) || reply.Body.GetProperty("role").GetString() != "leader")
        {
            return null;
        }

        return (leader, [.. reply.Body.GetProperty("voters").EnumerateArray().Select(v => v.GetUInt64())], [.. reply.Body.GetProperty("learners").EnumerateArray().Select(v => v.GetUInt64())]);
    }
}
