namespace Coordination.Tests.Linearizability.Models;

/// <summary>`POST /v1/sequences/{name}/next` with <see cref="Count"/>.</summary>
public sealed record SequenceInput(string Name, int Count);

/// <summary>The values <see cref="First"/> .. First + count - 1.</summary>
public sealed record SequenceOutput(long First);

/// <summary><see cref="Last"/> is a lower bound on every value handed out so far.</summary>
public sealed record SequenceState(long Last);

/// <summary>
/// A sequence (docs/api.md, "Sequences"): values are unique and increasing, so each range starts
/// above every range handed out before it. Ranges may leave gaps. An unknown outcome leaves the
/// bound alone, which is sound: its hidden range lies above the bound, and so must later ones.
/// Partitioned by sequence name.
/// </summary>
public sealed class SequenceModel : IModel<SequenceState, SequenceInput, SequenceOutput>
{
    public static SequenceModel Instance { get; } = new();

    public SequenceState Initial { get; } = new(0);

    public string PartitionOf(SequenceInput input) => input.Name;

    public void Step(SequenceState state, SequenceInput input, SequenceOutput? output, List<SequenceState> next)
    {
        if (output is null)
        {
            next.Add(state);
        }
        else if (output.First > state.Last)
        {
            next.Add(new SequenceState(output.First + input.Count - 1));
        }
    }
}
