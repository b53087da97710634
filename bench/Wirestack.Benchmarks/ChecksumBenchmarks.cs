using BenchmarkDotNet.Attributes;
using Wirestack.Wire;

namespace Wirestack.Benchmarks;

/// <summary>The Internet checksum, vectorized against a plain 16-bit loop. Divide Size by the mean for bytes/s.</summary>
[MemoryDiagnoser]
public class ChecksumBenchmarks
{
    byte[] _data = [];

    [Params(64, 1500, 9000, 65535)]
    public int Size { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _data = new byte[Size];
        new Random(1).NextBytes(_data);
    }

    [Benchmark(Baseline = true)]
    public ushort ScalarLoop()
    {
        var data = _data;
        uint sum = 0;
        int i = 0;
        for (; i + 1 < data.Length; i += 2)
            sum += (uint)(data[i] << 8 | data[i + 1]);
        if (i < data.Length)
            sum += (uint)(data[i] << 8);
        while (sum >> 16 != 0)
            sum = (sum & 0xFFFF) + (sum >> 16);
        return (ushort)~sum;
    }

    [Benchmark]
    public ushort Vectorized() => Checksum.Compute(_data);
}
