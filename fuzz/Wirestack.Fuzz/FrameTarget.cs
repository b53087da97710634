using Wirestack.Wire;

namespace Wirestack.Fuzz;

/// <summary>
/// Whole frames from a LAN sender into the stack under test, between the frames of an honest peer, on a virtual
/// clock (<see cref="FuzzedLan"/>). Input: one configuration byte, then records of [control][length, 2 bytes big
/// endian][virtio-net header, 10 bytes, when control's top bit is set and offloads are on][frame]; control's low
/// seven bits advance the clock by tens of milliseconds after the frame. At the end the clock runs on half an hour
/// and the invariants are checked.
/// </summary>
internal sealed class FrameTarget : FuzzTarget
{
    const int MaxRecords = 512;

    public override string Name => "frames";

    public override string Description => "Ethernet frames (IPv4, IPv6, ARP, with or without the virtio-net header) into a stack talking to a peer";

    public override void Run(ReadOnlySpan<byte> input)
    {
        using var lan = new FuzzedLan(input.IsEmpty ? (byte)0 : input[0]);
        lan.Run(TimeSpan.FromSeconds(3));
        int position = 1;
        for (int record = 0; record < MaxRecords && position + 3 <= input.Length; record++)
        {
            byte control = input[position];
            int length = input[position + 1] << 8 | input[position + 2];
            position += 3;
            var header = default(VirtioNetHeader);
            if ((control & 0x80) != 0 && lan.Offloads)
            {
                if (position + VirtioNetHeader.Length > input.Length)
                    break;
                header = VirtioNetHeader.Read(input.Slice(position, VirtioNetHeader.Length));
                position += VirtioNetHeader.Length;
            }
            length = Math.Min(length, input.Length - position);
            lan.Inject(input.Slice(position, length), header);
            position += length;
            lan.Run(TimeSpan.FromMilliseconds(10 * (control & 0x7F)));
        }
        lan.Run(TimeSpan.FromMinutes(30));
        lan.CheckInvariants();
    }
}
