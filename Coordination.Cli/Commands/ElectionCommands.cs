using System.CommandLine;
using Coordination.Cli.Formatting;

namespace Coordination.Cli.Commands;

internal static class ElectionCommands
{
    public static Command Build(CliRuntime cli) => new("election", "Leader elections")
    {
        Shared.Watch(
            cli, "observe", "Print the leader of an election and every change of it until Ctrl+C", "election", resumable: false,
            (run, name, _) => run.Client.ObserveElectionAsync(name, run.CancellationToken),
            CliJsonContext.Default.ElectionObservation,
            seen => seen.HasLeader
                ? $"revision {seen.Revision}  leader session {seen.LeaderSessionId}  token {Format.Number(seen.Token)}  value {Format.Json(seen.Value)}"
                : $"revision {seen.Revision}  no leader"),
    };
}
