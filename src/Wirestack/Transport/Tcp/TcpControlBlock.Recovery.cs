using Wirestack.Collections;
using Wirestack.Wire;

namespace Wirestack.Transport.Tcp;

// Acknowledgment processing and loss recovery: RTT sampling (RFC 6298), fast retransmit and NewReno fast recovery
// (RFC 5681 3.2, RFC 6582), and with SACK a scoreboard-driven recovery after RFC 6675.
//
// Work per ACK is bounded whatever the peer SACKs: the scoreboard keeps at most MaxScoreboardRanges disjoint ranges
// (sorted, adjacent ones merged), lookups are binary searches, and each of the at most four blocks of an ACK costs a
// search plus one list move of at most that many entries; the pipe is computed once per ACK and kept up to date as
// segments go out. (Before, an ACK stream SACKing every other 100 bytes grew the list without bound and one ACK
// could cost quadratic work.)
internal sealed partial class TcpControlBlock
{
    const int DuplicateAckThreshold = 3;

    /// <summary>
    /// Most disjoint SACKed ranges kept (FreeBSD keeps 128 holes). A block that would add one more is ignored: at worst
    /// data the peer holds is sent again, nothing is lost.
    /// </summary>
    public const int MaxScoreboardRanges = 128;

    // Sequence numbers compare from the set's origin, SND.UNA as of the last prune (or when the set was empty).
    readonly RangeSet _scoreboard = new(MaxScoreboardRanges);
    long _scoreboardSteps;

    /// <summary>Disjoint SACKed ranges held now.</summary>
    internal int ScoreboardRanges => _scoreboard.Count;

    /// <summary>Steps taken over the scoreboard since the connection opened (tests hold the per-ACK work to a bound).</summary>
    internal long ScoreboardWork => _scoreboardSteps + _scoreboard.Work;

    int FirstRangeEndingAfter(uint seq) => _scoreboard.FirstEndingAfter(seq);
    int _duplicateAcks;
    long _reachabilityConfirmedAt = long.MinValue / 2;
    bool _inRecovery;
    uint _recover;
    uint _highRetransmitted;
    bool _timingSegment;
    uint _timedSequence;
    long _timedAt;

    void OnNewAck(uint ack, in TcpOptions options)
    {
        long flightBefore = (long)(uint)(SndMax - SndUna);
        uint previousUna = SndUna;
        SndUna = ack;
        if (Seq.Lt(SndNxt, SndUna))
            SndNxt = SndUna;

        // Free acknowledged data (the FIN's sequence number carries none).
        long dataAcked = Math.Min((long)(int)(ack - _sendBufferSeq), Send.Count);
        if (dataAcked > 0)
        {
            Send.Consume((int)dataAcked);
            Send.Reclaim();
            _sendBufferSeq += (uint)dataAcked;
        }
        long acked = (long)(uint)(ack - previousUna);
        // Forward progress confirms the neighbor (at most once a second: it lasts the reachable time anyway).
        if (_network.Now - _reachabilityConfirmedAt >= 1_000_000)
        {
            _reachabilityConfirmedAt = _network.Now;
            _network.ConfirmReachable(Key.RemoteAddress);
        }

        // RTT: a timed segment (Karn) or, with timestamps, the echo of our clock (RFC 7323 4.1).
        if (_timingSegment && Seq.Ge(ack, _timedSequence))
        {
            _rto.AddSample(_network.Now - _timedAt);
            _timingSegment = false;
        }
        else if (_timestampsEnabled && options.HasTimestamps && options.TimestampEcho != 0 && !_inRecovery)
        {
            long sample = ((long)TimestampNow - options.TimestampEcho) * 1000;
            if (sample >= 0 && sample < 60_000_000 && !_rto.HasSample)
                _rto.AddSample(Math.Max(sample, 1));
        }
        Retransmissions = 0;
        _rto.ResetBackoff();
        PruneScoreboard();

        if (_inRecovery)
        {
            if (Seq.Ge(ack, _recover))
            {
                // Full acknowledgment: leave recovery (RFC 6582 3.2 step 3).
                _inRecovery = false;
                _duplicateAcks = 0;
                _congestion.OnRecoveryEnd((long)(uint)(SndMax - SndUna));
            }
            else if (!_sackEnabled)
            {
                // Partial acknowledgment (RFC 6582 3.2 step 5): resend the next hole, deflate by what was acked.
                RetransmitFirstUnacked();
                _congestion.SetWindow(_congestion.Window - acked + EffectiveSendMss);
            }
        }
        else
        {
            _duplicateAcks = 0;
            _congestion.OnAck(acked, flightBefore, _network.Now, _rto.SmoothedRtt);
        }

        // RFC 6298 5.2/5.3: stop the timer when all is acknowledged, otherwise restart it.
        _retransmitAt = SndMax == SndUna ? long.MaxValue : _network.Now + _rto.Current;
        if (dataAcked > 0)
            ReserveSendRoom();
    }

    void OnDuplicateAck()
    {
        _duplicateAcks++;
        _network.Counters.Increment(StackCounter.TcpDuplicateAcksReceived);
        if (_inRecovery)
        {
            if (!_sackEnabled)
                _congestion.SetWindow(_congestion.Window + EffectiveSendMss); // RFC 5681 3.2 step 4: inflate
            return;
        }
        bool sackSaysLost = _sackEnabled && SackedBytesAbove(SndUna) > (DuplicateAckThreshold - 1) * EffectiveSendMss;
        if (_duplicateAcks < DuplicateAckThreshold && !sackSaysLost)
            return;
        // RFC 6582 3.2 step 2: no new recovery for data sent before the last one (or before a timeout) began.
        if (Seq.Lt(SndUna, _recover))
            return;
        EnterRecovery();
    }

    void EnterRecovery()
    {
        long flight = (long)(uint)(SndMax - SndUna);
        _inRecovery = true;
        _recover = SndMax;
        _highRetransmitted = SndUna;
        _congestion.OnCongestion(flight, _network.Now);
        _network.Counters.Increment(StackCounter.TcpFastRetransmits);
        RetransmitFirstUnacked();
        if (!_sackEnabled)
            _congestion.SetWindow(_congestion.SlowStartThreshold + DuplicateAckThreshold * EffectiveSendMss);
    }

    /// <summary>Retransmits one segment at SND.UNA (fast retransmit).</summary>
    void RetransmitFirstUnacked()
    {
        long outstanding = (long)(uint)(SndMax - SndUna);
        bool finOnly = _finSent && SndUna == FinSeq;
        int length = (int)Math.Min(Math.Min(outstanding - (_finSent ? 1 : 0), MaxPayload()), Send.Count);
        if (length <= 0 && !finOnly)
            return;
        uint saveNext = SndNxt;
        bool fin = _finSent && SndUna + (uint)Math.Max(length, 0) == FinSeq;
        SendData(SndUna, Math.Max(length, 0), fin, retransmission: true);
        _highRetransmitted = Seq.Max(_highRetransmitted, SndUna + (uint)Math.Max(length, 0));
        SndNxt = Seq.Max(saveNext, SndNxt);
    }

    /// <summary>
    /// RFC 6675 5 (simplified): while the estimate of data in the network (pipe) is below cwnd, retransmit the
    /// holes below the highest SACKed byte, oldest first, each once; new data then follows through Output. One pass
    /// over the scoreboard from the first hole at most, plus one step per segment sent. Returns the pipe after it.
    /// </summary>
    long SendSackRecovery()
    {
        long pipe = Pipe();
        if (_scoreboard.Count == 0)
            return pipe;
        uint highestSacked = _scoreboard[_scoreboard.Count - 1].End;
        uint next = Seq.Max(_highRetransmitted, SndUna);
        int index = FirstRangeEndingAfter(next);
        while (pipe < _congestion.Window)
        {
            _scoreboardSteps++;
            if (index < _scoreboard.Count && Seq.Le(_scoreboard[index].Start, next))
            {
                // SACKed: skip the range (ranges are merged, so the next one starts past a hole).
                next = _scoreboard[index].End;
                index++;
                continue;
            }
            if (!Seq.Lt(next, highestSacked))
                return pipe;
            uint holeEnd = index < _scoreboard.Count ? _scoreboard[index].Start : highestSacked;
            int length = (int)Math.Min((long)(uint)(holeEnd - next), MaxPayload());
            length = (int)Math.Min(length, (long)(int)(_sendBufferSeq + (uint)Send.Count - next));
            if (length <= 0)
                return pipe;
            uint saveNext = SndNxt;
            SendData(next, length, fin: false, retransmission: true);
            SndNxt = Seq.Max(saveNext, SndNxt);
            _highRetransmitted = next + (uint)length;
            next = _highRetransmitted;
            pipe += length; // a hole counted as lost is in the network again
        }
        return pipe;
    }

    /// <summary>Bytes believed in the network: outstanding, less SACKed, less holes not yet retransmitted below the highest SACK.</summary>
    long Pipe()
    {
        long outstanding = (long)(uint)(SndMax - SndUna);
        long sacked = 0;
        long lostNotResent = 0;
        uint cursor = Seq.Max(_highRetransmitted, SndUna);
        foreach (var (left, right) in _scoreboard)
        {
            _scoreboardSteps++;
            sacked += (long)(uint)(right - left);
            if (Seq.Gt(left, cursor))
                lostNotResent += (long)(uint)(left - cursor);
            cursor = Seq.Max(cursor, right);
        }
        return Math.Max(0, outstanding - sacked - lostNotResent);
    }

    long SackedBytesAbove(uint seq)
    {
        long total = 0;
        for (int i = FirstRangeEndingAfter(seq); i < _scoreboard.Count; i++)
        {
            _scoreboardSteps++;
            var (left, right) = _scoreboard[i];
            total += (long)(uint)(right - Seq.Max(left, seq));
        }
        return total;
    }

    /// <summary>
    /// Merges the blocks of an arriving ACK into the scoreboard, ignoring blocks outside (SND.UNA, SND.MAX] (RFC 2018
    /// and D-SACK) and, once it holds <see cref="MaxScoreboardRanges"/> ranges, blocks that would add another.
    /// </summary>
    void UpdateScoreboard(in TcpOptions options)
    {
        if (_scoreboard.Count == 0)
            _scoreboard.Origin = SndUna;
        for (int i = 0; i < options.SackBlockCount; i++)
        {
            var block = options.Sack[i];
            uint left = block.Left, right = block.Right;
            if (!Seq.Lt(left, right) || Seq.Le(right, SndUna) || Seq.Gt(right, SndMax))
                continue;
            if (_scoreboard.Add(Seq.Max(left, SndUna), right) < 0)
                _network.Counters.Increment(StackCounter.DropTcpSackBlockIgnored);
        }
    }

    void PruneScoreboard() => _scoreboard.RemoveBefore(SndUna);
}
