using BenchmarkDotNet.Running;

BenchmarkSwitcher.FromAssembly(typeof(Wirestack.Benchmarks.ChecksumBenchmarks).Assembly).Run(args);
