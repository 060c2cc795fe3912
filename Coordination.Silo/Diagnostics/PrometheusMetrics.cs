using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text;
using Coordination.Silo.Hosting;

namespace Coordination.Silo.Diagnostics;

/// <summary>
/// Renders the silo's metrics in the Prometheus text format: counters and histograms of the
/// "Coordination.Silo" meter, aggregated by a <see cref="MeterListener"/>, and gauges read from the
/// running silo at scrape time. (The OpenTelemetry Prometheus exporter does not restore here.)
/// </summary>
public sealed class PrometheusMetrics : IDisposable
{
    private static readonly double[] BucketBounds = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<(string Name, string Labels), Series> _series = new();
    private readonly SiloRuntime _silo;
    private readonly MemberSurvey _survey;

    private sealed class Series
    {
        public double Sum;
        public long Count;
        public readonly long[] Buckets = new long[BucketBounds.Length];
        public bool IsHistogram;
        public string Description = "";
    }

    public PrometheusMetrics(SiloRuntime silo, MemberSurvey survey)
    {
        _silo = silo;
        _survey = survey;
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter == silo.Metrics.Meter)
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) => Record(instrument, value, tags));
        _listener.SetMeasurementEventCallback<double>((instrument, value, tags, _) => Record(instrument, value, tags));
        _listener.Start();
    }

    private void Record(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var labels = new StringBuilder();
        foreach (var tag in tags)
        {
            labels.Append(labels.Length == 0 ? "" : ",").Append(tag.Key).Append("=\"").Append(tag.Value).Append('"');
        }

        var series = _series.GetOrAdd((instrument.Name, labels.ToString()), _ => new Series { IsHistogram = instrument is Histogram<double>, Description = instrument.Description ?? "" });
        lock (series)
        {
            series.Sum += value;
            series.Count++;
            if (series.IsHistogram)
            {
                for (var i = 0; i < BucketBounds.Length; i++)
                {
                    if (value <= BucketBounds[i])
                    {
                        series.Buckets[i]++;
                    }
                }
            }
        }
    }

    public string Render()
    {
        var text = new StringBuilder();
        foreach (var group in _series.OrderBy(s => s.Key.Name, StringComparer.Ordinal).ThenBy(s => s.Key.Labels, StringComparer.Ordinal).GroupBy(s => s.Key.Name))
        {
            var first = group.First().Value;
            text.Append("# HELP ").Append(group.Key).Append(' ').Append(first.Description).Append('\n');
            text.Append("# TYPE ").Append(group.Key).Append(first.IsHistogram ? " histogram\n" : " counter\n");
            foreach (var ((name, labels), series) in group)
            {
                lock (series)
                {
                    if (!series.IsHistogram)
                    {
                        Line(text, name + "_total", labels, series.Sum);
                        continue;
                    }

                    for (var i = 0; i < BucketBounds.Length; i++)
                    {
                        Line(text, name + "_bucket", Join(labels, $"le=\"{BucketBounds[i].ToString(CultureInfo.InvariantCulture)}\""), series.Buckets[i]);
                    }

                    Line(text, name + "_bucket", Join(labels, "le=\"+Inf\""), series.Count);
                    Line(text, name + "_sum", labels, series.Sum);
                    Line(text, name + "_count", labels, series.Count);
                }
            }
        }

        var status = _silo.Host.Status;
        var counts = _silo.State.Grains.Counts;
        Gauge(text, "coordination_term", "Current Raft term", status.Term);
        Gauge(text, "coordination_is_leader", "1 when this silo leads", status.Role == Consensus.RaftRole.Leader ? 1 : 0);
        Gauge(text, "coordination_commit_index", "Highest committed log index known", status.CommitIndex);
        Gauge(text, "coordination_applied_index", "Highest applied log index", status.AppliedIndex);
        Gauge(text, "coordination_log_entries", "Entries in the log after the last snapshot", status.LastIndex - status.FirstIndex + 1);
        Gauge(text, "coordination_leader_changes", "Leader changes seen by this silo", status.LeaderChanges);
        Gauge(text, "coordination_sessions", "Live sessions", counts.Sessions);
        Gauge(text, "coordination_grains", "Active grains (locks, elections, groups, configs, sequences)", counts.Locks + counts.Elections + counts.Groups + counts.Configs + counts.Sequences);
        Gauge(text, "coordination_watchers", "Watch requests being served", Api.CoordinationApi.Watchers);
        Gauge(text, "coordination_idempotency_keys", "Idempotency keys remembered", _silo.State.IdempotencyKeys);
        Gauge(text, "coordination_transport_dropped_messages", "Peer messages dropped (full queue or unknown peer)", _silo.TransportDroppedMessages);
        Gauge(text, "coordination_allocated_bytes", "Bytes this process has allocated since it started (the load tool's allocations per request)", GC.GetTotalAllocatedBytes());
        // A stop-the-world collection holds every request and the Raft loop at once: under a contended
        // lock one pause of tens of milliseconds shows as whole extra turns of the queue in the p99.
        Gauge(text, "coordination_gc_pause_seconds", "Time this process has spent paused for garbage collection since it started", GC.GetTotalPauseDuration().TotalSeconds);
        text.Append("# HELP coordination_gc_collections Garbage collections of each generation since the process started\n# TYPE coordination_gc_collections gauge\n");
        for (var generation = 0; generation <= GC.MaxGeneration; generation++)
        {
            Line(text, "coordination_gc_collections", $"generation=\"{generation}\"", GC.CollectionCount(generation));
        }

        Gauge(text, "coordination_command_level", "Newest command level this silo proposes (the lowest every member decodes)", _survey.Effective);
        var skews = _survey.ClockSkewsMs.OrderBy(s => s.Key).ToArray();
        if (skews.Length > 0)
        {
            text.Append("# HELP coordination_member_clock_skew_seconds Another member's clock minus this silo's, as last measured\n# TYPE coordination_member_clock_skew_seconds gauge\n");
            foreach (var (member, skewMs) in skews)
            {
                Line(text, "coordination_member_clock_skew_seconds", $"member=\"{member}\"", skewMs / 1000.0);
            }
        }
        return text.ToString();
    }

    private static string Join(string labels, string extra) => labels.Length == 0 ? extra : labels + "," + extra;

    private static void Line(StringBuilder text, string name, string labels, double value) =>
        text.Append(name).Append(labels.Length > 0 ? "{" + labels + "}" : "").Append(' ').Append(value.ToString(CultureInfo.InvariantCulture)).Append('\n');

    private static void Gauge(StringBuilder text, string name, string help, double value)
    {
        text.Append("# HELP ").Append(name).Append(' ').Append(help).Append('\n');
        text.Append("# TYPE ").Append(name).Append(" gauge\n");
        Line(text, name, "", value);
    }

    public void Dispose() => _listener.Dispose();
}
