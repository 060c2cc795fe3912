using System.CommandLine;
using Coordination.Cli.Formatting;
using Coordination.Client;

namespace Coordination.Cli.Commands;

internal static class MemberCommands
{
    public static Command Build(CliRuntime cli) => new("members", "Membership groups") { List(cli), Watch(cli) };

    private static Command List(CliRuntime cli)
    {
        var group = Shared.Name("group");
        var command = new Command("list", "The members of a group") { group };
        command.SetAction(cli.Run(async run =>
        {
            var members = await run.Client.ListMembersAsync(run.Get(group), run.CancellationToken);
            run.Write(members, CliJsonContext.Default.IReadOnlyListGroupMember, _ => run.Table(
                ["MEMBER", "SESSION", "JOINED", "UPDATED", "METADATA"],
                members.Select(m => (IReadOnlyList<string>)[m.MemberId, Format.Number(m.SessionId), Format.Number(m.JoinedRevision), Format.Number(m.UpdatedRevision), Format.Json(m.Metadata)])));
        }));
        return command;
    }

    private static Command Watch(CliRuntime cli) => Shared.Watch(
        cli, "watch", "Print the members of a group, then every join, update and departure until Ctrl+C", "group", resumable: true,
        (run, group, after) => run.Client.WatchMembersAsync(group, after, run.CancellationToken),
        CliJsonContext.Default.MembershipChange,
        change => change.Type == MembershipChange.ResyncType
            ? $"revision {change.Revision}  {change.Members?.Count ?? 0} members: {string.Join(", ", (change.Members ?? []).Select(m => m.MemberId))}"
            : $"revision {change.Revision}  {change.Type}  {change.MemberId}  session {Format.Number(change.SessionId)}");
}
