using System.Globalization;

namespace Coordination.Bench;

/// <summary>CPU seconds used by the silo processes (pids from scripts/cluster.sh) and by this tool, from /proc.</summary>
public static class ClusterCpu
{
    public static double Seconds(IReadOnlyList<int> pids)
    {
        var ticks = 0L;
        foreach (var pid in pids.Append(Environment.ProcessId))
        {
            var path = $"/proc/{pid}/stat";
            if (!File.Exists(path))
            {
                continue;
            }

            // Fields 14 and 15 (utime, stime) follow the ')' that ends the command name.
            var stat = File.ReadAllText(path);
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            ticks += long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
        }

        const double clockTicksPerSecond = 100.0;
        return ticks / clockTicksPerSecond;
    }

    public static IReadOnlyList<int> PidsFrom(string? directory)
    {
        if (directory is null || !Directory.Exists(directory))
        {
            return [];
        }

        return [.. Directory.GetFiles(directory, "*.pid").Select(f => int.Parse(File.ReadAllText(f).Trim(), CultureInfo.InvariantCulture))];
    }
}
