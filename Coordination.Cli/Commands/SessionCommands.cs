using System.CommandLine;
using Coordination.Cli.Formatting;
using Coordination.Client;

namespace Coordination.Cli.Commands;

internal static class SessionCommands
{
    /// <summary>Sessions fetched per request while listing.</summary>
    public const int PageSizeMax = 100;

    public static Command Build(CliRuntime cli)
    {
        var limit = new Option<int>("--limit") { Description = "List at most this many sessions", DefaultValueFactory = _ => 1000 };
        var list = new Command("list", "Live sessions with their TTL, deadline and what they hold") { limit };
        list.SetAction(cli.Run(async run =>
        {
            var sessions = new List<SessionInfo>();
            var wanted = run.Get(limit);
            long after = 0;
            while (sessions.Count < wanted)
            {
                var page = await run.Client.ListSessionsAsync(after, Math.Min(PageSizeMax, wanted - sessions.Count), run.CancellationToken);
                sessions.AddRange(page);
                if (page.Count == 0 || page.Count < Math.Min(PageSizeMax, wanted - sessions.Count + page.Count))
                {
                    break;
                }

                after = page[^1].SessionId;
            }

            IReadOnlyList<SessionInfo> listed = sessions;
            run.Write(listed, CliJsonContext.Default.IReadOnlyListSessionInfo, _ => run.Table(
                ["SESSION", "TTL", "CREATED", "DEADLINE", "HOLDS"],
                sessions.Select(s => (IReadOnlyList<string>)[
                    Format.Number(s.SessionId), Format.Duration(s.TtlMs), Format.Time(s.CreatedMs), Format.Time(s.DeadlineMs),
                    s.Attachments.Count == 0 ? "-" : string.Join(", ", s.Attachments.Select(a => $"{a.Kind}:{a.Name}"))])));
        }));
        return new Command("sessions", "Sessions") { list };
    }
}
