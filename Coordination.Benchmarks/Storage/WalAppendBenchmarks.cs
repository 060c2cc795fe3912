using System.Diagnostics;
using System.Globalization;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Engines;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using Coordination.Consensus;
using Coordination.Silo.Storage;
using Microsoft.Win32.SafeHandles;
using Perfolizer.Mathematics.OutlierDetection;

namespace Coordination.Benchmarks.Storage;

/// <summary>
/// Latency of one durable append (write + fdatasync) of a batch of 100-byte entries, next to the
/// floor of the same disk: the same bytes written and fdatasynced by a plain loop, into a
/// preallocated file (as the WAL writes) and appended to a growing file. Each iteration is one
/// operation, so the percentile columns are per-append latencies; Entries/s is Batch / Mean.
/// Run: <c>dotnet run -c Release --project Coordination.Benchmarks -- --filter '*WalAppend*'</c>.
/// The directory is COORDINATION_BENCH_DIR, or the system temp directory.
/// </summary>
[Config(typeof(Config))]
public class WalAppendBenchmarks
{
    private const int EntryBytes = 100;
    private const long FloorFileBytes = 16L * 1024 * 1024;

    private string _directory = "";
    private WriteAheadLog _log = null!;
    private LogEntry[] _batch = [];
    private ulong _next = 1;
    private SafeFileHandle _floorPreallocated = null!;
    private SafeFileHandle _floorAppend = null!;
    private byte[] _floorBytes = [];
    private byte[] _entryData = [];
    private long _floorOffset;
    private readonly List<double> _floorLatencies = [];
    private readonly List<double> _walLatencies = [];

    [Params(1, 16, 256)]
    public int Batch { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var root = Environment.GetEnvironmentVariable("COORDINATION_BENCH_DIR") ?? Path.GetTempPath();
        _directory = Path.Combine(root, $"coordination-bench-{Environment.ProcessId}-{Batch}");
        Directory.CreateDirectory(_directory);
        _log = WriteAheadLog.Open(new PhysicalFileSystem(), Path.Combine(_directory, "log"), WriteAheadLogOptions.Default);
        _batch = new LogEntry[Batch];
        _next = 1;

        // The floor writes exactly the bytes one WAL frame of this batch takes.
        _floorBytes = new byte[WalFrameBytes(Batch)];
        Random.Shared.NextBytes(_floorBytes);
        _entryData = _floorBytes[..EntryBytes];
        _floorPreallocated = File.OpenHandle(Path.Combine(_directory, "floor-preallocated"), FileMode.CreateNew, FileAccess.ReadWrite);
        var zeros = new byte[1024 * 1024];
        for (long at = 0; at < FloorFileBytes; at += zeros.Length)
        {
            RandomAccess.Write(_floorPreallocated, zeros, at);
        }

        Sync(_floorPreallocated);
        _floorAppend = File.OpenHandle(Path.Combine(_directory, "floor-append"), FileMode.CreateNew, FileAccess.ReadWrite);
        _floorOffset = 0;
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        if (_walLatencies.Count > 0)
        {
            var (floor50, floor99) = Percentiles(_floorLatencies);
            var (wal50, wal99) = Percentiles(_walLatencies);
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"interleaved: batch {Batch}, {_walLatencies.Count} samples: floor p50 {floor50:F1} us p99 {floor99:F1} us; " +
                $"WAL p50 {wal50:F1} us p99 {wal99:F1} us; WAL/floor p50 {wal50 / floor50:F2} p99 {wal99 / floor99:F2}; " +
                $"WAL {Batch * 1e6 / _walLatencies.Average():N0} entries/s"));
            _floorLatencies.Clear();
            _walLatencies.Clear();
        }

        _log.Dispose();
        _floorPreallocated.Dispose();
        _floorAppend.Dispose();
        Directory.Delete(_directory, recursive: true);
    }

    [Benchmark(Baseline = true, Description = "floor: write+fdatasync, preallocated file")]
    public void FloorPreallocated() => FloorWrite(_floorPreallocated);

    [Benchmark(Description = "floor: write+fdatasync, growing file")]
    public void FloorAppend() => FloorWrite(_floorAppend);

    [Benchmark(Description = "WAL Save (append+sync)")]
    public void WalSave() => SaveBatch();

    /// <summary>
    /// One floor write and one WAL save per iteration, each timed on its own, so both see the same
    /// disk load (the benchmark machine is shared). Percentiles of each are printed at cleanup as
    /// "interleaved:" lines; this is the fair ratio of WAL to floor.
    /// </summary>
    [Benchmark(Description = "interleaved floor + WAL (see 'interleaved:' lines)")]
    public void Interleaved()
    {
        var start = Stopwatch.GetTimestamp();
        FloorWrite(_floorPreallocated);
        var middle = Stopwatch.GetTimestamp();
        SaveBatch();
        var end = Stopwatch.GetTimestamp();
        _floorLatencies.Add(Stopwatch.GetElapsedTime(start, middle).TotalMicroseconds);
        _walLatencies.Add(Stopwatch.GetElapsedTime(middle, end).TotalMicroseconds);
    }

    private void SaveBatch()
    {
        for (var i = 0; i < _batch.Length; i++)
        {
            _batch[i] = new LogEntry(_next + (ulong)i, 1, EntryKind.Normal, _entryData);
        }

        _log.Save(null, _batch);
        _next += (ulong)_batch.Length;
    }

    private void FloorWrite(SafeFileHandle file)
    {
        if (_floorOffset + _floorBytes.Length > FloorFileBytes)
        {
            _floorOffset = 0;
        }

        RandomAccess.Write(file, _floorBytes, _floorOffset);
        Sync(file);
        _floorOffset += _floorBytes.Length;
    }

    private static (double P50, double P99) Percentiles(List<double> samples)
    {
        var sorted = samples.Order().ToArray();
        return (sorted[sorted.Length / 2], sorted[Math.Min(sorted.Length - 1, sorted.Length * 99 / 100)]);
    }

    private static void Sync(SafeFileHandle file) => NativeSync.DataSync(file);

    /// <summary>Frame header, kind, hard-state flag and slot, entry count, then each entry's header and data.</summary>
    private static int WalFrameBytes(int batch) => 12 + 1 + 1 + 24 + 4 + (batch * (LogEntry.HeaderBytes + EntryBytes));

    private sealed class Config : ManualConfig
    {
        public Config()
        {
            // One append per iteration, so every iteration is one latency sample.
            AddJob(Job.Default
                .WithToolchain(InProcessEmitToolchain.Instance)
                .WithStrategy(RunStrategy.Monitoring)
                .WithLaunchCount(1)
                .WithWarmupCount(50)
                .WithIterationCount(int.TryParse(Environment.GetEnvironmentVariable("COORDINATION_BENCH_ITERATIONS"), out var n) ? n : 1000)
                .WithInvocationCount(1)
                .WithUnrollFactor(1)
                // Latency percentiles must include the slow appends, not trim them as outliers.
                .WithOutlierMode(OutlierMode.DontRemove));
            AddColumn(StatisticColumn.P50, new PercentileColumn(99), StatisticColumn.Max, new EntriesPerSecondColumn());
            AddColumnProvider(DefaultColumnProviders.Instance);
            WithOptions(ConfigOptions.DisableLogFile);
        }
    }

    private sealed class PercentileColumn(int percentile) : IColumn
    {
        public string Id => $"P{percentile}";

        public string ColumnName => $"P{percentile}";

        public bool AlwaysShow => true;

        public ColumnCategory Category => ColumnCategory.Statistics;

        public int PriorityInCategory => 0;

        public bool IsNumeric => true;

        public UnitType UnitType => UnitType.Time;

        public string Legend => $"{percentile}th percentile of per-append latency";

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, summary.Style);

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style) =>
            summary[benchmarkCase]?.ResultStatistics is { } statistics
                ? $"{statistics.Percentiles.Percentile(percentile) / 1000.0:F1} us"
                : "-";

        public bool IsAvailable(Summary summary) => true;

        public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
    }

    private sealed class EntriesPerSecondColumn : IColumn
    {
        public string Id => "EntriesPerSecond";

        public string ColumnName => "Entries/s";

        public bool AlwaysShow => true;

        public ColumnCategory Category => ColumnCategory.Custom;

        public int PriorityInCategory => 0;

        public bool IsNumeric => true;

        public UnitType UnitType => UnitType.Dimensionless;

        public string Legend => "Batch divided by the mean latency (for the floors: appends/s x Batch)";

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, summary.Style);

        public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style) =>
            summary[benchmarkCase]?.ResultStatistics is { } statistics
                ? (((int)benchmarkCase.Parameters["Batch"]) * 1e9 / statistics.Mean).ToString("N0", CultureInfo.InvariantCulture)
                : "-";

        public bool IsAvailable(Summary summary) => true;

        public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
    }
}
