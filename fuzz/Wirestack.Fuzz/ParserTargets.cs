using Wirestack.Wire;

namespace Wirestack.Fuzz;

// One target per wire record: each parses what it is given with every reader the engine uses on it, reads every
// field a parse admits, and checks what a parse promises (bounds, round trips). The frame target reaches these
// too, but behind checksums and state; here the fuzzer works on the format alone.

/// <summary>DNS and mDNS messages (RFC 1035, RFC 6762): both read limits, every record and name.</summary>
internal sealed class DnsTarget : FuzzTarget
{
    public override string Name => "dns";

    public override string Description => "DNS and mDNS messages, both read limits; names within their pointer bound";

    static readonly System.Text.UTF8Encoding StrictUtf8 = new(false, throwOnInvalidBytes: true);

    static bool IsUtf8(List<byte> wire)
    {
        try
        {
            for (int at = 0; at < wire.Count && wire[at] != 0; at += 1 + wire[at])
                StrictUtf8.GetString(wire.ToArray(), at + 1, wire[at]);
            return true;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    public override void Run(ReadOnlySpan<byte> input)
    {
        foreach (var limits in (DnsReadLimits[])[DnsReadLimits.Unicast, DnsReadLimits.Multicast])
        {
            long before = DnsName.Steps;
            bool parsed = DnsMessage.TryParse(input, limits, out var message);
            // A name costs at most its labels (127), its pointers and its end: the per-message work follows the count.
            long names = 1 + (input.Length / 2);
            InvariantViolation.Check(DnsName.Steps - before <= names * (DnsName.MaxPointerHops + 130), "DNS name reading past its step bound");
            if (!parsed)
                continue;
            int limit = limits.MaxEntries;
            InvariantViolation.Check(message!.Questions.Count <= limit && message.Answers.Count <= limit, "more records than the section limit");
            if (limits.PrintableNames)
                continue;
            // Names read in full (UTF-8, escapes for dots and backslashes inside labels) write back as the same wire
            // form: what the responder answers to is what was asked. Labels that are not UTF-8 read lossily, by design.
            int offset = 12;
            var wire = new List<byte>();
            foreach (var question in message.Questions)
            {
                wire.Clear();
                if (!DnsName.TryRead(input, ref offset, out var name, wire) || !IsUtf8(wire))
                    break;
                offset += 4;
                byte[] written;
                try
                {
                    written = DnsName.Encode(name);
                }
                catch (ArgumentException)
                {
                    throw new InvariantViolation($"name '{name}' read from the wire cannot be written");
                }
                InvariantViolation.Check(written.AsSpan().SequenceEqual(wire.ToArray()), $"name '{name}' does not round-trip");
            }
        }
    }
}

/// <summary>DHCPv4 messages (RFC 2131, RFC 2132): every option the client and server read.</summary>
internal sealed class DhcpTarget : FuzzTarget
{
    public override string Name => "dhcp";

    public override string Description => "DHCPv4 messages and their options";

    public override void Run(ReadOnlySpan<byte> input)
    {
        if (!DhcpMessage.TryParse(input, out var message))
            return;
        _ = (message.Operation, message.TransactionId, message.Flags, message.ClientAddress, message.YourAddress, message.MessageType);
        for (int code = 0; code < 256; code++)
            message.TryGetOption((byte)code, out _);
    }
}

/// <summary>DHCPv6 messages (RFC 8415): option walks and lookups.</summary>
internal sealed class Dhcpv6Target : FuzzTarget
{
    public override string Name => "dhcpv6";

    public override string Description => "DHCPv6 messages and their options";

    public override void Run(ReadOnlySpan<byte> input)
    {
        if (!Dhcpv6Message.TryParse(input, out var message))
            return;
        _ = (message.Type, message.TransactionId);
        bool valid = Dhcpv6Message.OptionsValid(message.Options);
        foreach (ushort code in (ushort[])[Dhcpv6Option.ClientId, Dhcpv6Option.ServerId, Dhcpv6Option.IaNa, Dhcpv6Option.StatusCode, Dhcpv6Option.DnsServers, Dhcpv6Option.DomainList])
        {
            if (valid && Dhcpv6Message.TryFind(message.Options, code, out var data) && code == Dhcpv6Option.IaNa && data.Length >= 12)
                Dhcpv6Message.OptionsValid(data[12..]);
        }
    }
}

/// <summary>IPv6 extension header chains (RFC 8200 4, RFC 7112): the walk the engine makes on every packet.</summary>
internal sealed class Ipv6ChainTarget : FuzzTarget
{
    public override string Name => "ipv6-chain";

    public override string Description => "IPv6 packets: header chains, fragment headers";

    public override void Run(ReadOnlySpan<byte> input)
    {
        var bytes = input.ToArray();
        if (!Ipv6Packet.TryParse(bytes, out var packet))
            return;
        foreach (bool multicast in (bool[])[false, true])
        {
            var verdict = Ipv6HeaderChain.Walk(packet.Bytes, multicast, out var chain);
            if (verdict != HeaderChainVerdict.Deliver)
                continue;
            InvariantViolation.Check(chain.UpperOffset <= packet.Bytes.Length, "the chain ends past the packet");
            if (chain.IsFragment)
            {
                InvariantViolation.Check(chain.FragmentHeaderOffset + Ipv6FragmentHeader.Length <= packet.Bytes.Length, "a fragment header past the packet");
                var fragment = new Ipv6FragmentHeader(packet.Bytes[chain.FragmentHeaderOffset..]);
                if (fragment.IsAtomic)
                    Ipv6HeaderChain.Walk(packet.Bytes, chain.UpperOffset, chain.FragmentHeaderOffset, multicast, out _);
            }
        }
    }
}

/// <summary>TCP headers and options (RFC 9293 3.1, RFC 7323, RFC 2018): parse, and what is parsed writes back the same.</summary>
internal sealed class TcpOptionsTarget : FuzzTarget
{
    public override string Name => "tcp-options";

    public override string Description => "TCP headers and options; parsed options write back and parse the same";

    public override void Run(ReadOnlySpan<byte> input)
    {
        var bytes = input.ToArray();
        if (!TcpSegment.TryParse(bytes, out var segment) || !segment.TryParseOptions(out var options))
            return;
        InvariantViolation.Check(options.SackBlockCount is >= 0 and <= 4, "more SACK blocks than an option can hold");
        var written = new byte[TcpSegment.MinimumHeaderLength + options.WireLength];
        segment.Header.Write(written, options, 0, Ipv4Address.Any, Ipv4Address.Any);
        var reread = TcpOptions.None;
        InvariantViolation.Check(TcpSegment.TryParse(written, out var again) && again.TryParseOptions(out reread), "written options do not parse");
        InvariantViolation.Check(reread.MaximumSegmentSize == options.MaximumSegmentSize && reread.WindowScale == options.WindowScale
            && reread.SackPermitted == options.SackPermitted && reread.HasTimestamps == options.HasTimestamps
            && reread.SackBlockCount == options.SackBlockCount, "options change in a round trip");
    }
}

/// <summary>NDP messages and options (RFC 4861 4, 4.6; RFC 8106): NS/NA, RA and every option reader.</summary>
internal sealed class NdpTarget : FuzzTarget
{
    public override string Name => "ndp";

    public override string Description => "Neighbor Discovery bodies (NS, NA, RA) and their options";

    public override void Run(ReadOnlySpan<byte> input)
    {
        ReadOnlySpan<byte> options = default;
        if (NdpTargetMessage.TryParse(input, out var target))
        {
            _ = (target.Router, target.Solicited, target.Override, target.Target);
            options = target.Options;
        }
        else if (RouterAdvertisement.TryParse(input, out var advertisement))
        {
            _ = (advertisement.CurrentHopLimit, advertisement.RouterLifetime, advertisement.ReachableTime);
            options = advertisement.Options;
        }
        if (!NdpOptionReader.Validate(options))
            return;
        var reader = new NdpOptionReader(options);
        int count = 0;
        while (reader.TryNext(out byte type, out var option))
        {
            InvariantViolation.Check(++count <= options.Length / 8, "more options than bytes allow");
            NdpOptionReader.TryReadLinkAddress(option, out _);
            if (NdpPrefixInformation.TryParse(option, out var prefix))
                _ = (prefix.Prefix, prefix.PrefixLength, prefix.ValidLifetime);
            NdpMtuOption.TryRead(option, out _);
            if (NdpDnsServerOption.TryParse(option, out var servers))
                _ = servers;
            if (NdpSearchListOption.TryParse(option, out var domains))
                _ = domains;
            _ = type;
        }
    }
}

/// <summary>IGMP and MLD queries (RFC 3376 4.1, RFC 3810 5.1): what a host reads of them.</summary>
internal sealed class GroupMembershipTarget : FuzzTarget
{
    public override string Name => "igmp-mld";

    public override string Description => "IGMP messages and MLD queries";

    public override void Run(ReadOnlySpan<byte> input)
    {
        if (IgmpMessage.TryParse(input, out var igmp))
            _ = (igmp.Type, igmp.Group, igmp.QueryVersion, igmp.MaxResponseMicroseconds);
        if (MldMessage.TryParseQuery(input, out var mld))
            _ = (mld.IsVersion1, mld.Group, mld.MaxResponseMicroseconds);
    }
}
