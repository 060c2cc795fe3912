namespace Coordination.Tests.Linearizability;

/// <summary>
/// A sequential specification for the checker. Models may be nondeterministic: <see cref="Step"/>
/// lists every state the operation may leave, and the checker follows all of them at once
/// (a set of states, as Porcupine does for nondeterministic models).
/// </summary>
/// <remarks>
/// States must have value equality and a stable hash code: the search memoizes
/// (linearized set, states) pairs. Records of scalars and strings qualify; collections must be
/// folded into a canonical string or another value type.
/// </remarks>
public interface IModel<TState, TInput, TOutput>
    where TState : notnull
    where TOutput : class
{
    /// <summary>The state before any operation.</summary>
    TState Initial { get; }

    /// <summary>Operations on different partitions never affect each other (P-compositionality).</summary>
    string PartitionOf(TInput input);

    /// <summary>
    /// Adds to <paramref name="next"/> every state in which the operation may leave
    /// <paramref name="state"/> when it returns <paramref name="output"/>; none if the output is
    /// impossible there. A null output is an unknown outcome: the operation took effect with
    /// whatever output the model allows. (That it may also never take effect is the checker's job.)
    /// </summary>
    void Step(TState state, TInput input, TOutput? output, List<TState> next);

    /// <summary>
    /// True when the operation with this known output leaves every state it is legal in unchanged
    /// (a read, a refusal). The checker takes such an operation as soon as it is legal, without
    /// branching. A wrong true makes the checker reject linearizable histories; false is always safe.
    /// </summary>
    bool ChangesNothing(TInput input, TOutput output) => false;
}
