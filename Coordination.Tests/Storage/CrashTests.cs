using System.Diagnostics;
using Coordination.Consensus;
using Coordination.Silo.Storage;
using Coordination.Tests.WalWriter;
using Xunit.Abstractions;

namespace Coordination.Tests.Storage;

/// <summary>
/// Real processes, real files, real SIGKILLs (issue 3). The child (Coordination.Tests.WalWriter)
/// prints each operation before it starts and "ok" once it returned; the test kills it at a random
/// point, reopens the log, and checks that it holds exactly the acknowledged operations, plus at
/// most the one in flight. COORDINATION_CRASH_KILLS makes the run longer (default 20 kills).
/// </summary>
public sealed class CrashTests(ITestOutputHelper output) : IDisposable
{
    private const int KillsDefault = 20;
    private static readonly TimeSpan s_budget = TimeSpan.FromSeconds(25);
    private static readonly TimeSpan s_childTimeout = TimeSpan.FromSeconds(20);

    private readonly string _directory = Directory.CreateTempSubdirectory("coordination-crash-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public void Every_acknowledged_record_survives_repeated_SIGKILLs()
    {
        var kills = int.TryParse(Environment.GetEnvironmentVariable("COORDINATION_CRASH_KILLS"), out var given) ? given : KillsDefault;
        var seed = TestSeed.Choose();
        output.WriteLine($"seed {seed}, kills {kills}");
        var random = new Random(seed);
        var acknowledged = new MemoryLogStorage();
        var clock = Stopwatch.StartNew();
        var (killed, operations) = (0, 0);
        for (; killed < kills && (clock.Elapsed < s_budget || kills != KillsDefault); killed++)
        {
            var okWanted = random.Next(1, 300);
            var inFlight = RunChildUntilKilled(seed + killed, okWanted, acknowledged, ref operations);

            using var log = WriteAheadLog.Open(new PhysicalFileSystem(), _directory, CrashWorkload.Options);
            var context = $"seed {seed}, kill {killed}";
            if (!LogStorageContract.IsSameLog(acknowledged, log))
            {
                Assert.NotNull(inFlight);
                inFlight(acknowledged);
                LogStorageContract.AssertSameLog(acknowledged, log, $"{context} (with the operation in flight)");
            }
        }

        output.WriteLine($"{killed} kills, {operations} acknowledged operations, last index {acknowledged.LastIndex}, in {clock.Elapsed.TotalSeconds:F1} s");
        Assert.True(killed >= Math.Min(kills, 5), "too few kills fit in the time budget");
    }

    /// <summary>Runs the child until it acknowledged <paramref name="okWanted"/> operations, SIGKILLs it, and returns the operation it had started but not acknowledged.</summary>
    private Action<ILogStorage>? RunChildUntilKilled(int seed, int okWanted, MemoryLogStorage acknowledged, ref int operations)
    {
        using var child = Process.Start(new ProcessStartInfo("dotnet", [ChildPath(), _directory, seed.ToString(System.Globalization.CultureInfo.InvariantCulture)])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        })!;
        Action<ILogStorage>? inFlight = null;
        var deadline = Stopwatch.StartNew();
        var ok = 0;
        try
        {
            while (ok < okWanted && deadline.Elapsed < s_childTimeout)
            {
                var read = child.StandardOutput.ReadLineAsync();
                Assert.True(read.Wait(s_childTimeout), "the child printed nothing for too long");
                var line = read.Result;
                if (line is null)
                {
                    Assert.Fail($"the child exited early: {child.StandardError.ReadToEnd()}");
                }

                Follow(line, ref inFlight, ref ok);
            }
        }
        finally
        {
            child.Kill(entireProcessTree: true);
            Assert.True(child.WaitForExit(s_childTimeout), "the child did not die after SIGKILL");
        }

        // The child ran on while the test read: what it printed before it died is in the pipe, and
        // an operation it printed "ok" for was acknowledged too. Only the last one started can be
        // in flight.
        for (var line = child.StandardOutput.ReadLine(); line is not null; line = child.StandardOutput.ReadLine())
        {
            Follow(line, ref inFlight, ref ok);
        }

        operations += ok;
        return inFlight;

        void Follow(string line, ref Action<ILogStorage>? started, ref int acknowledgedCount)
        {
            if (line == CrashWorkload.Done)
            {
                started!(acknowledged);
                started = null;
                acknowledgedCount++;
            }
            else
            {
                started = CrashWorkload.Parse(line);
            }
        }
    }

    private static string ChildPath()
    {
        // bin/<configuration>/<framework>/ of this test assembly; the child builds to the same layout.
        var here = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        var framework = here.Name;
        var configuration = here.Parent!.Name;
        var root = here.Parent.Parent!.Parent!.Parent!.FullName;
        var path = Path.Combine(root, "Coordination.Tests.WalWriter", "bin", configuration, framework, "Coordination.Tests.WalWriter.dll");
        Assert.True(File.Exists(path), $"crash-test child not built at {path}");
        return path;
    }
}
