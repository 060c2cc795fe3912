using BenchmarkDotNet.Running;

// Every benchmark class in this assembly is selectable: `-- --filter '*Raft*'`, `-- --list flat`.
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
