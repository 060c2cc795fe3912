namespace Coordination.Tests.Linearizability.Models;

public enum MembershipOp
{
    /// <summary>`PUT /v1/groups/{group}/members/{member}` for <see cref="MembershipInput.Session"/>.</summary>
    Join,

    /// <summary>`DELETE /v1/groups/{group}/members/{member}`.</summary>
    Leave,

    /// <summary>Linearizable list of the member ids.</summary>
    List,

    /// <summary>The session ended between invoke and completion; its members leave with it.</summary>
    SessionEnded,
}

public sealed record MembershipInput(string Group, MembershipOp Op, string Member = "", long Session = 0);

public enum MembershipResult
{
    Joined,

    /// <summary>`409 already-exists`.</summary>
    AlreadyExists,
    Left,

    /// <summary>`404` on leave.</summary>
    NotFound,

    /// <summary>A list: <see cref="MembershipOutput.Members"/>, the ids ascending (ordinal), joined by commas.</summary>
    Listed,
    Ended,
}

public sealed record MembershipOutput(MembershipResult Result, string Members = "")
{
    public static MembershipOutput Listed(IEnumerable<string> members) => new(MembershipResult.Listed, string.Join(',', members.Order(StringComparer.Ordinal)));
}

/// <summary>The members as `id=session`, ascending by id (ordinal), joined by commas.</summary>
public sealed record MembershipState(string Members)
{
    public IReadOnlyList<(string Id, long Session)> Entries =>
        Members.Length == 0 ? [] : [.. Members.Split(',').Select(e => e.Split('=')).Select(p => (p[0], long.Parse(p[1])))];

    public static MembershipState Of(IEnumerable<(string Id, long Session)> entries) =>
        new(string.Join(',', entries.OrderBy(e => e.Id, StringComparer.Ordinal).Select(e => $"{e.Id}={e.Session}")));
}

/// <summary>
/// A membership group (docs/api.md, "Membership groups"): join adds an id that is not there,
/// leave removes one that is, a list shows exactly the ids present, and a session's end removes
/// its members. Member ids must not contain ',' or '='. Partitioned by group.
/// </summary>
public sealed class MembershipModel : IModel<MembershipState, MembershipInput, MembershipOutput>
{
    public static MembershipModel Instance { get; } = new();

    public MembershipState Initial { get; } = new("");

    public string PartitionOf(MembershipInput input) => input.Group;

    public bool ChangesNothing(MembershipInput input, MembershipOutput output) =>
        output.Result is MembershipResult.Listed or MembershipResult.AlreadyExists or MembershipResult.NotFound;

    public void Step(MembershipState state, MembershipInput input, MembershipOutput? output, List<MembershipState> next)
    {
        var entries = state.Entries;
        var present = entries.Any(e => e.Id == input.Member);
        var result = output?.Result;
        switch (input.Op)
        {
            case MembershipOp.Join when !present && result is null or MembershipResult.Joined:
                next.Add(MembershipState.Of([.. entries, (input.Member, input.Session)]));
                break;
            case MembershipOp.Join when present && result is null or MembershipResult.AlreadyExists:
            case MembershipOp.Leave when !present && result is null or MembershipResult.NotFound:
                next.Add(state);
                break;
            case MembershipOp.Leave when present && result is null or MembershipResult.Left:
                next.Add(MembershipState.Of(entries.Where(e => e.Id != input.Member)));
                break;
            case MembershipOp.List when output is null || (output.Result == MembershipResult.Listed && output.Members == string.Join(',', entries.Select(e => e.Id))):
                next.Add(state);
                break;
            case MembershipOp.SessionEnded when result is null or MembershipResult.Ended:
                next.Add(MembershipState.Of(entries.Where(e => e.Session != input.Session)));
                break;
        }
    }
}
