using System.Diagnostics;
using Coordination.Silo.Storage;

namespace Coordination.Tests.Storage;

public sealed class DataDirectoryLockTests : IDisposable
{
    private readonly string _directory = Path.Combine(Path.GetTempPath(), $"coord-lock-{Guid.NewGuid():N}");

    [Fact]
    public void A_second_holder_is_refused_with_the_directory_and_pid_and_admitted_once_the_first_lets_go()
    {
        using (DataDirectoryLock.Acquire(_directory))
        {
            var refused = Assert.Throws<DataDirectoryInUseException>(() => DataDirectoryLock.Acquire(_directory));
            Assert.Contains(Path.GetFullPath(_directory), refused.Message, StringComparison.Ordinal);
        }

        // The holder's pid stays in the file for operators (cat does not take the lock).
        Assert.Equal($"{Environment.ProcessId}", File.ReadAllText(Path.Combine(_directory, DataDirectoryLock.FileName)).Trim());
        using var again = DataDirectoryLock.Acquire(_directory);
    }

    [Fact]
    public async Task A_silo_started_on_a_directory_another_silo_holds_exits_and_says_why()
    {
        await using var cluster = new Cluster.SiloProcessCluster(1);
        await cluster.LeaderAsync();

        var silo = Path.Combine(AppContext.BaseDirectory, "Coordination.Silo.dll");
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in new[] { silo, "--node-id", "1", "--data-dir", cluster.DataDirectory(1), "--members", "1=127.0.0.1:1:2" })
        {
            info.ArgumentList.Add(argument);
        }

        using var second = Process.Start(info)!;
        var output = second.StandardOutput.ReadToEndAsync();
        var errors = second.StandardError.ReadToEndAsync();
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await second.WaitForExitAsync(bound.Token);
        Assert.NotEqual(0, second.ExitCode);
        Assert.Contains("in use by another process", await output + await errors, StringComparison.Ordinal);
    }

    public void Dispose()
    {
        if (Directory.Exists(_directory))
        {
            Directory.Delete(_directory, recursive: true);
        }
    }
}
