namespace Wirestack;

/// <summary>
/// The Multicast DNS responder (RFC 6762): the stack answers for <c>HostName.local</c> (A, AAAA and reverse PTR
/// records for each address) on UDP port 5353 of both families, after probing that the name is free; a name
/// another host holds becomes <c>HostName-2</c>, <c>HostName-3</c>… (see <see cref="NetworkStack.MdnsHostName"/>).
/// </summary>
public sealed record MdnsSettings
{
    /// <summary>The label before <c>.local</c>: 1 to 63 letters, digits or hyphens, not starting or ending with a hyphen.</summary>
    public required string HostName { get; init; }

    internal void Validate()
    {
        if (HostName is null || HostName.Length is 0 or > 63 || HostName[0] == '-' || HostName[^1] == '-'
            || !HostName.All(c => char.IsAsciiLetterOrDigit(c) || c == '-'))
            throw new ArgumentException($"mDNS host name '{HostName}' must be 1 to 63 letters, digits or inner hyphens.", nameof(HostName));
    }
}
