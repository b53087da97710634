using System.Net.Sockets;
using System.Security.Cryptography;
using Wirestack.Transport;
using Wirestack.Wire;

namespace Wirestack.Dns;

/// <summary>
/// One question (a name and a record type) to the servers in turn (RFC 1035 7.2): each asked from a new random port
/// with a new random ID, answered only by that server, with that ID, to that question (RFC 5452 9.1); a server that
/// does not answer within the timeout, answers with a failure or reports itself unreachable passes the question on;
/// a truncated answer is asked again over TCP. NXDOMAIN ends it.
/// </summary>
internal sealed class UnicastExchange(DnsClient client, string name, ushort type, IReadOnlyList<IpAddress> servers, DnsQuerySettings settings,
    Action<DnsAnswer, SocketError> done) : DnsWork, IUdpReceiver
{
    public const ushort Port = 53;

    readonly byte[] _query = new byte[512];
    int _queryLength;
    UdpBinding? _binding;
    IpAddress _server;
    ushort _id;
    int _tries;
    bool _nameError;
    bool _overTcp;

    public void Start()
    {
        client.Track(this);
        Next();
    }

    /// <summary>Asks the next server, or ends when every round is spent.</summary>
    void Next()
    {
        Release();
        while (!_nameError && _tries < settings.Attempts * servers.Count)
        {
            _server = servers[_tries % servers.Count];
            _tries++;
            _id = (ushort)RandomNumberGenerator.GetInt32(65536);
            if (!DnsQuery.TryWrite(_query, _id, name, type, out _queryLength))
            {
                Finish(DnsAnswer.None, SocketError.HostNotFound);
                return;
            }
            try
            {
                _binding = client.Host.Bind(this);
            }
            catch (SocketException)
            {
                Finish(DnsAnswer.None, SocketError.TryAgain);
                return;
            }
            if (client.Host.Send(_binding, _server, Port, _query.AsSpan(0, _queryLength)) == SocketError.Success)
            {
                Deadline = client.Host.Now + settings.TimeoutMicroseconds;
                return;
            }
            Release();
        }
        Finish(DnsAnswer.None, _nameError ? SocketError.HostNotFound : SocketError.TryAgain);
    }

    public bool TryDeliver(ReadOnlySpan<byte> payload, IpAddress remoteAddress, ushort remotePort, IpAddress localAddress)
    {
        if (IsFinished || _overTcp || remoteAddress != _server || remotePort != Port)
            return true;
        if (!DnsMessage.TryParse(payload, DnsReadLimits.Unicast, out var message) || message.Id != _id || !message.IsResponse)
            return true;
        if (message.IsTruncated)
        {
            _overTcp = true;
            int attempt = _tries;
            client.Host.ExchangeOverTcp(_server, _query.AsSpan(0, _queryLength).ToArray(), Deadline - client.Host.Now, response =>
            {
                // A late answer to an attempt already given up is not this attempt's.
                if (IsFinished || attempt != _tries || !_overTcp)
                    return;
                if (response is not null && DnsMessage.TryParse(response, DnsReadLimits.Unicast, out var full) && full.Id == _id && full.IsResponse)
                    Conclude(full);
                else
                    Next();
            });
            return true;
        }
        Conclude(message);
        return true;
    }

    void Conclude(DnsMessage response)
    {
        var answer = DnsClient.Interpret(response, name, type, out int code);
        if (code == 0)
        {
            Finish(answer, SocketError.Success);
            return;
        }
        // RFC 1035 4.1.1: 3 is NXDOMAIN, an answer about the name (no other server will know better); the rest
        // (SERVFAIL, REFUSED, a wrong question) is the server's failure.
        _nameError = code == 3;
        Next();
    }

    public void DeliverError(SocketError error, IpAddress remoteAddress, ushort remotePort)
    {
        if (!IsFinished && !_overTcp && remoteAddress == _server && remotePort == Port)
            Next();
    }

    public override void Expire(long now) => Next();

    public override void Cancel()
    {
        Release();
        IsFinished = true;
        client.Untrack(this);
    }

    void Finish(DnsAnswer answer, SocketError error)
    {
        Cancel();
        done(answer, error);
    }

    void Release()
    {
        if (_binding is not null)
            client.Host.Unbind(_binding);
        _binding = null;
        _overTcp = false;
        Deadline = long.MaxValue;
    }
}
