namespace Wirestack.Fuzz;

/// <summary>
/// One fuzzing target: takes any input, and throws when the code under test breaks one of the target's invariants
/// (an exception escaping the code under test counts as one). The same targets serve afl-fuzz (through SharpFuzz)
/// and the corpus replay in the unit tests.
/// </summary>
internal abstract class FuzzTarget
{
    /// <summary>The name the command line and the corpus folder use.</summary>
    public abstract string Name { get; }

    /// <summary>What the target drives and what it checks.</summary>
    public abstract string Description { get; }

    public abstract void Run(ReadOnlySpan<byte> input);

    /// <summary>Every target, by name.</summary>
    public static IReadOnlyList<FuzzTarget> All { get; } =
    [
        new FrameTarget(),
        new DnsTarget(),
        new DhcpTarget(),
        new Dhcpv6Target(),
        new Ipv6ChainTarget(),
        new TcpOptionsTarget(),
        new NdpTarget(),
        new GroupMembershipTarget(),
    ];

    public static FuzzTarget? Find(string name) => All.FirstOrDefault(t => t.Name == name);
}

/// <summary>An invariant the code under test broke: afl-fuzz records the input as a crash.</summary>
internal sealed class InvariantViolation(string message) : Exception(message)
{
    public static void Check(bool condition, string what)
    {
        if (!condition)
            throw new InvariantViolation(what);
    }
}
