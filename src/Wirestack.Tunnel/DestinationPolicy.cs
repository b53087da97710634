using System.Net;

namespace Wirestack.Tunnel;

/// <summary>
/// Which destinations the tunnel carries: those in an --include prefix (all when none is given) and in no --exclude
/// prefix. The rest are answered "administratively prohibited" (TCP, ping) or dropped (UDP).
/// </summary>
internal sealed class DestinationPolicy(IReadOnlyList<IPNetwork> include, IReadOnlyList<IPNetwork> exclude)
{
    public bool Allows(IPAddress destination)
    {
        if (destination.IsIPv4MappedToIPv6)
            destination = destination.MapToIPv4();
        foreach (var prefix in exclude)
        {
            if (prefix.Contains(destination))
                return false;
        }
        if (include.Count == 0)
            return true;
        foreach (var prefix in include)
        {
            if (prefix.Contains(destination))
                return true;
        }
        return false;
    }
}
