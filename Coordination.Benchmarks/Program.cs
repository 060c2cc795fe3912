using BenchmarkDotNet.Running;

namespace Coordination.Benchmarks;

/// <summary>Every benchmark class in this assembly is selectable: <c>-- --filter '*Raft*'</c>, <c>-- --list flat</c>.</summary>
public static class BenchmarkProgram
{
    public static void Main(string[] args) => BenchmarkSwitcher.FromAssembly(typeof(BenchmarkProgram).Assembly).Run(args);
}
