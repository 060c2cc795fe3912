using System.Diagnostics;
using Coordination.Consensus;

namespace Coordination.Tests.Linearizability;

/// <summary>What a client learned about one operation.</summary>
public enum Outcome
{
    /// <summary>The operation took effect between its invoke and its completion, with the recorded output.</summary>
    Ok,

    /// <summary>The operation certainly did not take effect (it was refused before it reached the log).</summary>
    Fail,

    /// <summary>
    /// The client gave up (timeout, dropped connection): the operation may take effect at any point
    /// after its invoke, with any output the model allows, or never.
    /// </summary>
    Unknown,
}

/// <summary>
/// One operation of a history. <see cref="Invoke"/> and <see cref="Complete"/> are monotonic
/// timestamps (<see cref="Stopwatch.GetTimestamp"/> or any increasing counter); <see cref="Complete"/>
/// and <see cref="Output"/> mean nothing unless <see cref="Outcome"/> is <see cref="Outcome.Ok"/>.
/// </summary>
public sealed record Operation<TInput, TOutput>(int Client, TInput Input, TOutput? Output, long Invoke, long Complete, Outcome Outcome)
    where TOutput : class
{
    public static Operation<TInput, TOutput> Ok(int client, TInput input, TOutput output, long invoke, long complete) =>
        new(client, input, output, invoke, complete, Outcome.Ok);

    public static Operation<TInput, TOutput> Unknown(int client, TInput input, long invoke) =>
        new(client, input, null, invoke, long.MaxValue, Outcome.Unknown);

    public static Operation<TInput, TOutput> Fail(int client, TInput input, long invoke, long complete) =>
        new(client, input, null, invoke, complete, Outcome.Fail);
}

/// <summary>
/// Records a history from concurrent clients. Any thread may call any method; every operation
/// is invoked once and then finished once (ok, fail or unknown). Operations still open when the
/// history is taken count as unknown, which is what they are.
/// </summary>
public sealed class HistoryRecorder<TInput, TOutput>
    where TOutput : class
{
    private readonly Lock _gate = new();
    private readonly List<Operation<TInput, TOutput>?> _finished = [];
    private readonly List<(int Client, TInput Input, long Invoke)> _open = [];

    /// <summary>Records the invoke now and returns the handle to finish the operation with.</summary>
    public int Invoke(int client, TInput input)
    {
        lock (_gate)
        {
            _open.Add((client, input, Stopwatch.GetTimestamp()));
            _finished.Add(null);
            return _open.Count - 1;
        }
    }

    /// <summary>Adds an operation whose times the caller knows (e.g. a session end seen after the fact).</summary>
    public void Record(Operation<TInput, TOutput> operation)
    {
        lock (_gate)
        {
            _open.Add((operation.Client, operation.Input, operation.Invoke));
            _finished.Add(operation);
        }
    }

    public void Ok(int handle, TOutput output) => Finish(handle, output, Outcome.Ok);

    public void Fail(int handle) => Finish(handle, null, Outcome.Fail);

    public void Unknown(int handle) => Finish(handle, null, Outcome.Unknown);

    private void Finish(int handle, TOutput? output, Outcome outcome)
    {
        var now = Stopwatch.GetTimestamp();
        lock (_gate)
        {
            Invariant.Require(_finished[handle] is null, "an operation is finished once");
            var (client, input, invoke) = _open[handle];
            _finished[handle] = new Operation<TInput, TOutput>(client, input, output, invoke, outcome == Outcome.Unknown ? long.MaxValue : now, outcome);
        }
    }

    /// <summary>The history so far; operations not finished yet are unknown.</summary>
    public IReadOnlyList<Operation<TInput, TOutput>> Snapshot()
    {
        lock (_gate)
        {
            return [.. _finished.Select((op, i) => op ?? Operation<TInput, TOutput>.Unknown(_open[i].Client, _open[i].Input, _open[i].Invoke))];
        }
    }
}
