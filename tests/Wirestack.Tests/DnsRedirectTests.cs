extern alias tunnel;

using System.Buffers.Binary;
using System.Net;
using tunnel::Wirestack.Tunnel;

namespace Wirestack.Tests;

public sealed class DnsRedirectTests
{
    static readonly IPEndPoint Resolver = IPEndPoint.Parse("10.0.0.53:53");

    static byte[] Query(ushort id)
    {
        var message = new byte[12];
        BinaryPrimitives.WriteUInt16BigEndian(message, id);
        return message;
    }

    [Fact(DisplayName = "wirestack-tunnel --dns: a query to any resolver goes to the configured one and its answer (same RFC 1035 transaction ID) comes back from the address asked; other traffic and other sources pass unchanged")]
    public void AnswersComeFromTheAddressAsked()
    {
        var queries = new DnsRedirect.Queries(new DnsRedirect(Resolver));
        var asked = IPEndPoint.Parse("192.0.2.1:53");
        Assert.Equal(Resolver, queries.Send(Query(7), asked));
        Assert.Equal(asked, queries.Received(Query(7), Resolver));
        Assert.Equal(Resolver, queries.Received(Query(8), Resolver));
        var other = IPEndPoint.Parse("192.0.2.9:53");
        Assert.Equal(other, queries.Received(Query(7), other));
        var web = IPEndPoint.Parse("192.0.2.1:443");
        Assert.Equal(web, queries.Send(Query(7), web));
    }

    [Fact(DisplayName = "wirestack-tunnel --dns under a query flood with ever new transaction IDs: a session remembers at most 256, the oldest forgotten first, and recent queries are still answered")]
    public void WaitingQueriesAreBounded()
    {
        var queries = new DnsRedirect.Queries(new DnsRedirect(Resolver));
        for (int id = 0; id < 10_000; id++)
            queries.Send(Query((ushort)id), new IPEndPoint(IPAddress.Parse("192.0.2.1"), 53));
        var legitimate = IPEndPoint.Parse("198.51.100.1:53");
        queries.Send(Query(60_000), legitimate);
        Assert.Equal(legitimate, queries.Received(Query(60_000), Resolver));
        Assert.Equal(Resolver, queries.Received(Query(0), Resolver));
        Assert.Equal(IPEndPoint.Parse("192.0.2.1:53"), queries.Received(Query(9_999), Resolver));
        Assert.Equal(Resolver, queries.Received(Query(9_999 - 256), Resolver));
    }
}
