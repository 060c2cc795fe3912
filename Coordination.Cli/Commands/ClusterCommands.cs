using System.CommandLine;
using Coordination.Cli.Formatting;

namespace Coordination.Cli.Commands;

internal static class ClusterCommands
{
    public static Command Build(CliRuntime cli)
    {
        var status = new Command("status", "Members, roles, leader, term and log indexes as one silo sees them");
        status.SetAction(cli.Run(async run =>
        {
            var cluster = await run.Client.GetClusterAsync(run.CancellationToken);
            run.Write(cluster, CliJsonContext.Default.ClusterStatus, output =>
            {
                output.WriteLine($"leader {cluster.Leader ?? "none"}  term {cluster.Term}  commit {cluster.CommitIndex}  applied {cluster.AppliedIndex}  log {cluster.FirstIndex}..{cluster.LastIndex}  (answered by {cluster.NodeId}, {cluster.Role})");
                var voters = cluster.Voters.Select(v => v.ToString()).ToHashSet();
                run.Table(
                    ["NODE", "ROLE", "CLIENT URL", "PEER"],
                    cluster.Members.Select(m => (IReadOnlyList<string>)[
                        m.Id ?? "-",
                        m.Id == cluster.Leader ? "leader" : voters.Contains(m.Id ?? "") ? "voter" : "learner",
                        m.ClientUrl ?? "-",
                        m.PeerAddress ?? "-"]));
            });
        }));
        return new Command("cluster", "The cluster") { status };
    }
}
