using System.Text.Json;

namespace Coordination.Tests.Linearizability;

/// <summary>
/// Saves a history that failed a check, one JSON operation per line, under
/// `$TMPDIR/coordination-histories/`, so a violation can be read and replayed after the run.
/// </summary>
public static class HistoryFile
{
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = false };

    public static string Directory { get; } = Path.Combine(Path.GetTempPath(), "coordination-histories");

    /// <summary>Writes the history with a header line (<paramref name="label"/>, seed, result) and returns the path.</summary>
    public static string Save<TInput, TOutput>(string label, long seed, CheckResult result, IReadOnlyList<Operation<TInput, TOutput>> history)
        where TOutput : class
    {
        System.IO.Directory.CreateDirectory(Directory);
        var path = Path.Combine(Directory, $"{label}-seed{seed}-{DateTime.UtcNow:yyyyMMddHHmmssfff}.jsonl");
        using var writer = new StreamWriter(path);
        var failure = result.FirstFailure;
        writer.WriteLine(JsonSerializer.Serialize(new { label, seed, verdict = result.Verdict.ToString(), partition = failure?.Partition, stuck = failure?.Stuck, longestPrefix = failure?.LongestPrefix }, Json));
        for (var i = 0; i < history.Count; i++)
        {
            var op = history[i];
            writer.WriteLine(JsonSerializer.Serialize(new { index = i, op.Client, outcome = op.Outcome.ToString(), op.Invoke, complete = op.Outcome == Outcome.Unknown ? (long?)null : op.Complete, op.Input, op.Output }, Json));
        }

        return path;
    }
}

/// <summary>Assertions for tests that produce histories: a failure saves the history and names the file and the seed.</summary>
public static class LinearizabilityAssert
{
    public static CheckResult Linearizable<TState, TInput, TOutput>(
        IModel<TState, TInput, TOutput> model,
        IReadOnlyList<Operation<TInput, TOutput>> history,
        string label,
        long seed,
        CheckOptions? options = null)
        where TState : notnull
        where TOutput : class
    {
        var result = LinearizabilityChecker.Check(model, history, options);
        if (result.Verdict != Verdict.Linearizable)
        {
            var path = HistoryFile.Save(label, seed, result, history);
            var failure = result.FirstFailure!;
            var message = $"{label}: {result.Verdict} in partition '{failure.Partition}' (seed {seed}, {failure.Operations} operations, " +
                $"{failure.Steps} steps, stuck at operation {failure.Stuck?.ToString() ?? "-"}); history saved to {path}";
            Console.WriteLine(message);
            Assert.Fail(message);
        }

        return result;
    }
}
