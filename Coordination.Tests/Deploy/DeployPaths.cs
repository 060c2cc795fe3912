using System.Diagnostics;
using System.Text;
using Microsoft.AspNetCore.Mvc.Testing;

namespace Coordination.Tests.Deploy;

/// <summary>Tests that run external programs (dotnet publish, the published silo, npm, kubectl) run alone.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ExternalProcessCollection
{
    public const string Name = "External processes";
}

/// <summary>The repository checkout the tests were built from, and bounded runs of external tools.</summary>
internal static class DeployPaths
{
    public static string RepositoryRoot { get; } = FindRoot();

    public static string Deploy => Path.Combine(RepositoryRoot, "deploy");

    public static string K8s => Path.Combine(Deploy, "k8s");

    /// <summary>The full path of an executable on PATH, or null.</summary>
    public static string? Which(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, name))
            .FirstOrDefault(File.Exists);

    /// <summary>Runs a program to completion within <paramref name="timeout"/>; the process tree is killed if it overruns.</summary>
    public static (int ExitCode, string Output) Run(string fileName, IEnumerable<string> arguments, string workingDirectory, TimeSpan timeout)
    {
        var info = new ProcessStartInfo(fileName)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        var output = new StringBuilder();
        using var process = new Process { StartInfo = info };
        process.OutputDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        process.ErrorDataReceived += (_, e) => { lock (output) { output.AppendLine(e.Data); } };
        process.Start();
        try
        {
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            if (!process.WaitForExit(timeout))
            {
                throw new TimeoutException($"{fileName} {string.Join(' ', info.ArgumentList)} did not finish within {timeout}:\n{output}");
            }

            process.WaitForExit();
            lock (output)
            {
                return (process.ExitCode, output.ToString());
            }
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
                process.WaitForExit(TimeSpan.FromSeconds(10));
            }
        }
    }

    public static void DeleteDirectory(string path)
    {
        try
        {
            Directory.Delete(path, recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
        }
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Coordination.slnx")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"no Coordination.slnx above {AppContext.BaseDirectory}");
    }
}

/// <summary>A path in the temporary directory, deleted (if it was created) on dispose.</summary>
internal sealed class TempFile(string prefix) : IDisposable
{
    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"{prefix}-{Guid.NewGuid():N}");

    public void Dispose() => File.Delete(Path);
}
