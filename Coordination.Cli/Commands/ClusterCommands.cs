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
                if (cluster.CommandLevel < cluster.DecodeLevel)
                {
                    // An upgrade under way (or a member not heard from): some commands are held back.
                    output.WriteLine($"commands up to level {cluster.CommandLevel} of the {cluster.DecodeLevel} this build decodes: newer ones are held back until every member runs a build that decodes them");
                }

                var voters = cluster.Voters.Select(v => v.ToString()).ToHashSet();
                run.Table(
                    ["NODE", "ROLE", "CLIENT URL", "PEER", "HTTP/2 URL"],
                    cluster.Members.Select(m => (IReadOnlyList<string>)[
                        m.Id ?? "-",
                        m.Id == cluster.Leader ? "leader" : voters.Contains(m.Id ?? "") ? "voter" : "learner",
                        m.ClientUrl ?? "-",
                        m.PeerAddress ?? "-",
                        m.Http2Url ?? "-"]));
            });
        }));
        var id = new Argument<long>("id") { Description = "The silo's id" };
        var clientUrl = new Option<Uri>("--client-url") { Description = "Where the new silo serves clients, e.g. http://10.0.0.4:5080", Required = true };
        var peer = new Option<string>("--peer") { Description = "Where the new silo listens for peers, host:port", Required = true };
        var http2Url = new Option<Uri?>("--http2-url") { Description = "Where the new silo serves the API over HTTP/2 without TLS (its fourth --members port), e.g. http://10.0.0.4:7080" };
        var add = new Command("add", "Add a silo (started with --join) as a learner") { id, clientUrl, peer, http2Url };
        add.SetAction(cli.Run(async run => WriteMembers(run, await run.Client.AddSiloAsync(
            run.Parse.GetValue(id), run.Parse.GetValue(clientUrl)!, run.Parse.GetValue(peer)!, run.Parse.GetValue(http2Url), run.CancellationToken))));
        var promote = new Command("promote", "Make a caught-up learner a voter") { id };
        promote.SetAction(cli.Run(async run => WriteMembers(run, await run.Client.PromoteSiloAsync(run.Parse.GetValue(id), run.CancellationToken))));
        var remove = new Command("remove", "Remove a silo from the cluster") { id };
        remove.SetAction(cli.Run(async run => WriteMembers(run, await run.Client.RemoveSiloAsync(run.Parse.GetValue(id), run.CancellationToken))));
        return new Command("cluster", "The cluster") { status, add, promote, remove };
    }

    private static void WriteMembers(Invocation run, Coordination.Client.ClusterStatus cluster) =>
        run.Write(cluster, CliJsonContext.Default.ClusterStatus, output =>
            output.WriteLine($"voters {string.Join(",", cluster.Voters)}  learners {string.Join(",", cluster.Learners)}"));
}
