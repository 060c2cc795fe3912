using System.CommandLine;
using Coordination.Cli.Formatting;

namespace Coordination.Cli.Commands;

internal static class ElectionCommands
{
    public static Command Build(CliRuntime cli)
    {
        var name = Shared.Name("election");
        var count = Shared.Count();
        var observe = new Command("observe", "Print the leader of an election and every change of it until Ctrl+C") { name, count };
        observe.SetAction(cli.Run(run => Shared.ForEachAsync(
            run.Client.ObserveElectionAsync(run.Get(name), run.CancellationToken),
            run.Get(count),
            seen => run.Write(seen, CliJsonContext.Default.ElectionObservation, output => output.WriteLine(seen.HasLeader
                ? $"revision {seen.Revision}  leader session {seen.LeaderSessionId}  token {Format.Number(seen.Token)}  value {Format.Json(seen.Value)}"
                : $"revision {seen.Revision}  no leader")))));
        return new Command("election", "Leader elections") { observe };
    }
}
