using SharpFuzz;
using Wirestack.Fuzz;

// wirestack-fuzz TARGET                 run under afl-fuzz (the input on standard input, SharpFuzz's fork server)
// wirestack-fuzz TARGET FILE|DIR...      replay inputs (a corpus, or a crash afl-fuzz found) and report each
// wirestack-fuzz --list                  the targets
// wirestack-fuzz --seed DIR              writes seed corpora (one folder a target) from our stacks' own traffic
if (args is ["--seed", var seedDirectory])
{
    CorpusSeeds.Write(seedDirectory);
    return 0;
}
if (args.Length == 0 || args[0] is "-h" or "--help" || args[0] == "--list")
{
    Console.WriteLine("usage: wirestack-fuzz TARGET [FILE|DIR...]   (no files: afl-fuzz mode, input on stdin)");
    foreach (var t in FuzzTarget.All)
        Console.WriteLine($"  {t.Name,-14} {t.Description}");
    return args.Length == 0 ? 2 : 0;
}
if (FuzzTarget.Find(args[0]) is not { } target)
{
    Console.Error.WriteLine($"wirestack-fuzz: no target '{args[0]}'; --list shows them");
    return 2;
}
if (args.Length == 1)
{
    Fuzzer.Run(stream =>
    {
        using var memory = new MemoryStream();
        stream.CopyTo(memory);
        target.Run(memory.GetBuffer().AsSpan(0, (int)memory.Length));
    });
    return 0;
}
int failures = 0, inputs = 0;
foreach (string path in args.Skip(1).SelectMany(p => Directory.Exists(p) ? Directory.EnumerateFiles(p).Order() : (IEnumerable<string>)[p]))
{
    inputs++;
    try
    {
        target.Run(File.ReadAllBytes(path));
    }
    catch (Exception e)
    {
        failures++;
        Console.WriteLine($"{path}: {e}");
    }
}
Console.WriteLine($"{target.Name}: {inputs} inputs, {failures} failed");
return failures == 0 ? 0 : 1;
