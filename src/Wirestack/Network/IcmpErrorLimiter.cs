namespace Wirestack.Network;

/// <summary>
/// The stack-wide limit on ICMP errors sent (RFC 1812 4.3.2.8, RFC 4443 2.4 f), with a random cost per error: 1 to 3
/// tokens, 2 on average, out of twice the tokens, so the configured rate holds on average. One shared bucket with a
/// fixed cost is a side channel: a host that spoofs packets to our closed UDP ports and counts what the limit still
/// lets through learns which ports are open, such as the resolver's random source port (SAD DNS, CVE-2020-25705);
/// with a random cost the count says nothing exact (Linux made the same change).
/// </summary>
internal sealed class IcmpErrorLimiter(int errorsPerSecond, int burst, Random random)
{
    readonly TokenBucket _tokens = new(2 * errorsPerSecond, 2 * burst);

    public bool TryTake(long nowMicroseconds) => _tokens.TryTake(nowMicroseconds, 1 + random.Next(3));
}
