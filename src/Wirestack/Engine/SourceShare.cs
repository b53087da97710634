using Wirestack.Wire;

namespace Wirestack.Engine;

/// <summary>
/// What one source's share of a forwarding table is counted by: its IPv4 address, or its IPv6 /64 (one host can hold
/// a whole /64, so counting its addresses one by one would give it as many shares as it likes).
/// </summary>
internal static class SourceShare
{
    public static IpAddress Of(IpAddress source) => source.IsIpv4 ? source : new IpAddress(source.High, 0);
}
