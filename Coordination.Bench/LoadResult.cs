using System.Globalization;
using System.Text.Json;

namespace Coordination.Bench;

/// <summary>One measured run: a workload at one concurrency.</summary>
public sealed record LoadResult(
    string Workload,
    int Clients,
    long Operations,
    long Errors,
    double Seconds,
    double OpsPerSecond,
    double P50Ms,
    double P99Ms,
    double P999Ms,
    double CpuSeconds,
    string? Note = null,
    double? AllocatedKbPerOp = null,
    string? Api = null)
{
    /// <summary>
    /// The longest time in the run during which no operation completed, from the start: one stall of the
    /// cluster (a slow sync, a pause) holds every client at once, so it shows here, while p99 only shows
    /// it as a few turns of a queue.
    /// </summary>
    public double? LongestPauseMs { get; init; }

    /// <summary>The longest gap between consecutive completion timestamps (Stopwatch ticks), counted from <paramref name="started"/>.</summary>
    public static double LongestGapMs(long started, List<long> completions)
    {
        completions.Sort();
        var longest = 0L;
        var previous = started;
        foreach (var at in completions)
        {
            longest = Math.Max(longest, at - previous);
            previous = at;
        }

        return longest * 1000.0 / System.Diagnostics.Stopwatch.Frequency;
    }

    /// <summary>Summarises per-operation latencies (Stopwatch ticks).</summary>
    public static LoadResult From(string workload, int clients, List<long> latencies, long errors, TimeSpan elapsed, double cpuSeconds, string? note = null)
    {
        latencies.Sort();
        return new LoadResult(workload, clients, latencies.Count, errors, elapsed.TotalSeconds, latencies.Count / elapsed.TotalSeconds,
            PercentileMs(latencies, 0.50), PercentileMs(latencies, 0.99), PercentileMs(latencies, 0.999), cpuSeconds, note);
    }

    /// <summary>The <paramref name="p"/> quantile, in milliseconds, of latencies in Stopwatch ticks sorted ascending.</summary>
    public static double PercentileMs(List<long> sorted, double p) => sorted.Count == 0 ? double.NaN
        : Percentile(sorted, p) * 1000.0 / System.Diagnostics.Stopwatch.Frequency;

    /// <summary>The <paramref name="p"/> quantile (nearest rank) of a non-empty list sorted ascending.</summary>
    public static long Percentile(List<long> sorted, double p) => sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(p * sorted.Count) - 1)];

    public string ToJsonLine() => JsonSerializer.Serialize(this, JsonOptions);

    public static string TableHeader =>
        $"{"workload",-27} {"clients",7} {"ops/s",10} {"p50 ms",8} {"p99 ms",8} {"p99.9 ms",9} {"errors",7} {"cpu s",7} {"KB/op",7} {"pause ms",8}  note";

    public string ToTableRow() => string.Create(CultureInfo.InvariantCulture,
        $"{Workload,-27} {Clients,7} {OpsPerSecond,10:0} {P50Ms,8:0.00} {P99Ms,8:0.00} {P999Ms,9:0.00} {Errors,7} {CpuSeconds,7:0.0} {AllocatedKbPerOp,7:0.0} {LongestPauseMs,8:0.0}  {Note}");

    private static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web);
}
