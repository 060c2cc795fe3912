using System.Diagnostics.Metrics;

namespace Coordination.Silo.Hosting;

/// <summary>The silo's instruments, under the meter "Coordination.Silo" (exported at /metrics).</summary>
public sealed class HostMetrics : IDisposable
{
    public const string MeterName = "Coordination.Silo";

    private readonly Meter _meter = new(MeterName);

    public HostMetrics()
    {
        Proposals = _meter.CreateCounter<long>("coordination_proposals", description: "Commands proposed by this silo as leader");
        LeaderChanges = _meter.CreateCounter<long>("coordination_leader_changes", description: "Times this silo saw a new leader");
        SyncSeconds = _meter.CreateHistogram<double>("coordination_log_sync_seconds", "s", "Time to persist and sync one Ready");
        CommitSeconds = _meter.CreateHistogram<double>("coordination_commit_seconds", "s", "Time from proposal to application on the leader");
        ClockSteps = _meter.CreateCounter<long>("coordination_clock_steps", description: "Jumps of the wall clock that entry stamps did not follow");
        RequestSeconds = _meter.CreateHistogram<double>("coordination_http_request_seconds", "s", "REST requests by method and status class, and their latency");
    }

    public Histogram<double> RequestSeconds { get; }

    public Meter Meter => _meter;

    public Counter<long> Proposals { get; }

    public Counter<long> LeaderChanges { get; }

    public Histogram<double> SyncSeconds { get; }

    public Histogram<double> CommitSeconds { get; }

    public Counter<long> ClockSteps { get; }

    public void Dispose() => _meter.Dispose();
}
