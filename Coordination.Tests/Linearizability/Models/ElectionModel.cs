namespace Coordination.Tests.Linearizability.Models;

public enum ElectionOp
{
    /// <summary>`POST /v1/elections/{name}/campaign` for <see cref="ElectionInput.Session"/> with <see cref="ElectionInput.Value"/>.</summary>
    Campaign,

    /// <summary>`POST /v1/elections/{name}/proclaim` with term <see cref="ElectionInput.Token"/> and <see cref="ElectionInput.Value"/>.</summary>
    Proclaim,

    /// <summary>`POST /v1/elections/{name}/resign` for <see cref="ElectionInput.Session"/>.</summary>
    Resign,

    /// <summary>Linearizable `GET /v1/elections/{name}`: the leader (or none), its term and value, every candidate.</summary>
    Observe,

    /// <summary>
    /// The session ended (expired or revoked) somewhere between its invoke (the session last known
    /// alive) and its completion (seen gone); its candidacy leaves with it, as a resignation would.
    /// </summary>
    SessionEnded,
}

/// <summary>Values must not contain ',' or ':'.</summary>
public sealed record ElectionInput(string Name, ElectionOp Op, long Session = 0, long Token = 0, string Value = "");

public enum ElectionResult
{
    /// <summary>Campaign: the session leads with term <see cref="ElectionOutput.Token"/>.</summary>
    Elected,

    /// <summary>Campaign: the session waits at <see cref="ElectionOutput.Position"/> (1 = next).</summary>
    Queued,

    /// <summary>`409 already-exists`: the session is a candidate already.</summary>
    AlreadyCandidate,

    /// <summary>Proclaim accepted for term <see cref="ElectionOutput.Token"/>.</summary>
    Proclaimed,

    /// <summary>`409 wrong-token`: the token is not the current term.</summary>
    WrongToken,

    /// <summary>`404 not-found`: a proclaim without a leader, or a resign by a session that is not a candidate.</summary>
    NotFound,

    /// <summary>Resign accepted; <see cref="ElectionOutput.WasLeader"/> says whether the session led.</summary>
    Resigned,

    /// <summary>
    /// An observation: <see cref="ElectionOutput.Leader"/> (0: no leader), its <see cref="ElectionOutput.Token"/>
    /// (0 without a leader) and <see cref="ElectionOutput.Value"/>, and <see cref="ElectionOutput.Candidates"/>
    /// (session ids in order, the leader first, joined by commas).
    /// </summary>
    Observed,

    /// <summary>Acknowledges <see cref="ElectionOp.SessionEnded"/>.</summary>
    Ended,
}

public sealed record ElectionOutput(ElectionResult Result, long Token = 0, int Position = 0, bool WasLeader = false, long Leader = 0, string Value = "", string Candidates = "")
{
    public static ElectionOutput Elected(long token) => new(ElectionResult.Elected, token);

    public static ElectionOutput Queued(int position) => new(ElectionResult.Queued, Position: position);

    public static ElectionOutput Resigned(bool wasLeader) => new(ElectionResult.Resigned, WasLeader: wasLeader);

    public static ElectionOutput Proclaimed(long token) => new(ElectionResult.Proclaimed, token);

    public static ElectionOutput Observed(long leader, long token, string value, IEnumerable<long> candidates) =>
        new(ElectionResult.Observed, token, Leader: leader, Value: value, Candidates: string.Join(',', candidates));

    public static ElectionOutput NoLeader { get; } = new(ElectionResult.Observed);

    public static ElectionOutput AlreadyCandidate { get; } = new(ElectionResult.AlreadyCandidate);

    public static ElectionOutput WrongToken { get; } = new(ElectionResult.WrongToken);

    public static ElectionOutput NotFound { get; } = new(ElectionResult.NotFound);

    public static ElectionOutput Ended { get; } = new(ElectionResult.Ended);
}

/// <summary>
/// <see cref="Candidates"/>: `session:value` in queue order, the leader first, joined by commas
/// (empty: no leader). <see cref="LeaderToken"/> is the leader's term, 0 when there is no leader or
/// when the leader was made by an operation whose outcome is unknown or by a promotion nobody has
/// seen yet (the term exists but is hidden). <see cref="LastToken"/> is a lower bound on every
/// earlier term.
/// </summary>
public sealed record ElectionModelState(string Candidates, long LeaderToken, long LastToken)
{
    public IReadOnlyList<(long Session, string Value)> Entries =>
        Candidates.Length == 0 ? [] : [.. Candidates.Split(',').Select(e => e.Split(':')).Select(p => (long.Parse(p[0], System.Globalization.CultureInfo.InvariantCulture), p[1]))];

    public static string Of(IEnumerable<(long Session, string Value)> entries) => string.Join(',', entries.Select(e => $"{e.Session}:{e.Value}"));
}

/// <summary>
/// Leader election (docs/api.md, "Elections"; Coordination.Grains/Elections): candidates queue in
/// FIFO order and the first leads; a campaign into an empty election leads at once with a new term,
/// any other waits at its position; a proclaim with the current term replaces the leader's value; a
/// resignation or a session end removes the candidate, and when the leader leaves the next candidate
/// leads with a new term in the same step (or there is no leader). Terms are log indexes: each new
/// leader's term is above every earlier one; the model asks only that they increase.
/// Partitioned by election name.
/// </summary>
public sealed class ElectionModel : IModel<ElectionModelState, ElectionInput, ElectionOutput>
{
    public static ElectionModel Instance { get; } = new();

    public ElectionModelState Initial { get; } = new("", 0, 0);

    public string PartitionOf(ElectionInput input) => input.Name;

    // Not observations: one can reveal a hidden term.
    public bool ChangesNothing(ElectionInput input, ElectionOutput output) =>
        output.Result is ElectionResult.AlreadyCandidate or ElectionResult.WrongToken or ElectionResult.NotFound;

    public void Step(ElectionModelState state, ElectionInput input, ElectionOutput? output, List<ElectionModelState> next)
    {
        var entries = state.Entries;
        var index = entries.ToList().FindIndex(e => e.Session == input.Session);
        var result = output?.Result;
        switch (input.Op)
        {
            case ElectionOp.Campaign when index >= 0:
                if (result is null or ElectionResult.AlreadyCandidate)
                {
                    next.Add(state);
                }

                break;
            case ElectionOp.Campaign when entries.Count == 0:
                var elected = ElectionModelState.Of([(input.Session, input.Value)]);
                if (output is null)
                {
                    next.Add(new ElectionModelState(elected, 0, state.LastToken));
                }
                else if (result == ElectionResult.Elected && output.Token > state.LastToken)
                {
                    next.Add(new ElectionModelState(elected, output.Token, output.Token));
                }

                break;
            case ElectionOp.Campaign:
                if (output is null || (result == ElectionResult.Queued && output.Position == entries.Count))
                {
                    next.Add(state with { Candidates = ElectionModelState.Of([.. entries, (input.Session, input.Value)]) });
                }

                break;
            case ElectionOp.Proclaim:
                Proclaim(state, entries, input, output, next);
                break;
            case ElectionOp.Resign when index < 0:
            case ElectionOp.SessionEnded when index < 0:
                if (result is null or ElectionResult.NotFound or ElectionResult.Ended)
                {
                    next.Add(state);
                }

                break;
            case ElectionOp.Resign:
            case ElectionOp.SessionEnded:
                var fits = input.Op == ElectionOp.Resign
                    ? result is null || (result == ElectionResult.Resigned && output!.WasLeader == (index == 0))
                    : result is null or ElectionResult.Ended;
                if (fits)
                {
                    next.Add(Without(state, entries, index));
                }

                break;
            case ElectionOp.Observe when output is null:
                next.Add(state);
                break;
            case ElectionOp.Observe when result == ElectionResult.Observed:
                Observe(state, entries, output, next);
                break;
        }
    }

    // The candidate at index leaves; if it led, the next one leads with a new, hidden term.
    private static ElectionModelState Without(ElectionModelState state, IReadOnlyList<(long Session, string Value)> entries, int index)
    {
        var rest = ElectionModelState.Of(entries.Where((_, i) => i != index));
        return index == 0
            ? new ElectionModelState(rest, 0, Math.Max(state.LastToken, state.LeaderToken))
            : state with { Candidates = rest };
    }

    private static void Proclaim(ElectionModelState state, IReadOnlyList<(long Session, string Value)> entries, ElectionInput input, ElectionOutput? output, List<ElectionModelState> next)
    {
        var result = output?.Result;
        if (entries.Count == 0)
        {
            if (result is null or ElectionResult.NotFound)
            {
                next.Add(state);
            }

            return;
        }

        // The term matches if it is the known one, or may match a hidden one above the bound.
        var matches = state.LeaderToken == input.Token || (state.LeaderToken == 0 && input.Token > state.LastToken);
        var certain = state.LeaderToken != 0;
        if (matches && (result is null || (result == ElectionResult.Proclaimed && output!.Token == input.Token)))
        {
            var proclaimed = ElectionModelState.Of([(entries[0].Session, input.Value), .. entries.Skip(1)]);
            next.Add(new ElectionModelState(proclaimed, input.Token, Math.Max(state.LastToken, input.Token)));
        }

        if ((!matches || !certain) && result is null or ElectionResult.WrongToken)
        {
            next.Add(state);
        }
    }

    private static void Observe(ElectionModelState state, IReadOnlyList<(long Session, string Value)> entries, ElectionOutput output, List<ElectionModelState> next)
    {
        if (output.Candidates != string.Join(',', entries.Select(e => e.Session)))
        {
            return;
        }

        if (entries.Count == 0)
        {
            if (output.Leader == 0 && output.Token == 0)
            {
                next.Add(state);
            }

            return;
        }

        if (output.Leader != entries[0].Session || output.Value != entries[0].Value)
        {
            return;
        }

        if (state.LeaderToken == output.Token)
        {
            next.Add(state);
        }
        else if (state.LeaderToken == 0 && output.Token > state.LastToken)
        {
            next.Add(state with { LeaderToken = output.Token, LastToken = output.Token });
        }
    }
}
