using System.Text;

namespace Wirestack.Wire;

/// <summary>
/// Domain names in presentation form ("My Printer._http._tcp.local", a dot inside a label written "\.") and on the
/// wire (RFC 1035 3.1): labels of UTF-8 (RFC 6762 16), at most 63 bytes each and 255 in all.
/// </summary>
internal static class DnsName
{
    public const int MaxWireLength = 255;

    /// <summary>The labels of a presentation-form name; "\." and "\\" are a dot and a backslash inside a label.</summary>
    public static List<string> Labels(string name)
    {
        var labels = new List<string>();
        var label = new StringBuilder();
        for (int i = 0; i < name.Length; i++)
        {
            char c = name[i];
            if (c == '\\' && i + 1 < name.Length)
                label.Append(name[++i]);
            else if (c == '.')
            {
                labels.Add(label.ToString());
                label.Clear();
            }
            else
                label.Append(c);
        }
        if (label.Length > 0)
            labels.Add(label.ToString());
        return labels;
    }

    /// <summary>The uncompressed wire form; throws <see cref="ArgumentException"/> for an empty label or one too long.</summary>
    public static byte[] Encode(string name) =>
        TryEncode(name, out var wire) ? wire : throw new ArgumentException($"'{name}' has an empty label, one over 63 bytes, or is over {MaxWireLength} bytes.", nameof(name));

    /// <summary>The uncompressed wire form; false for an empty label, one over 63 bytes or a name over 255 bytes.</summary>
    public static bool TryEncode(string name, out byte[] wire)
    {
        var bytes = new List<byte>();
        wire = [];
        foreach (string label in Labels(name))
        {
            byte[] encoded = Encoding.UTF8.GetBytes(label);
            if (encoded.Length is 0 or > 63)
                return false;
            bytes.Add((byte)encoded.Length);
            bytes.AddRange(encoded);
        }
        bytes.Add(0);
        if (bytes.Count > MaxWireLength)
            return false;
        wire = [.. bytes];
        return true;
    }

    /// <summary>
    /// Most compression pointers one name may follow. Pointers that must go backwards rule out loops but not chains:
    /// a message of pointers each two bytes before the last would cost half its length per name, and a 64 KiB answer
    /// carries thousands of names. A name has at most 127 labels, so no encoder needs more hops than this.
    /// </summary>
    public const int MaxPointerHops = 128;

    /// <summary>Labels and pointers followed on this thread (tests hold the work per name to its bound).</summary>
    [ThreadStatic]
    internal static long Steps;

    /// <summary>
    /// Reads a possibly compressed name at <paramref name="offset"/> (advancing past it) into presentation form and,
    /// when <paramref name="wire"/> is given, its uncompressed wire form. Pointers must go backwards (to earlier data),
    /// which rules out loops, and at most <see cref="MaxPointerHops"/> of them are followed; the name may not pass 255
    /// bytes. False for anything else. With
    /// <paramref name="printableAscii"/> every byte outside printable ASCII (and a dot or backslash inside a label)
    /// reads as '?': host and domain names from the network then cannot carry control characters into logs, and need
    /// no escapes.
    /// </summary>
    public static bool TryRead(ReadOnlySpan<byte> message, ref int offset, out string name, List<byte>? wire = null, bool printableAscii = false)
    {
        name = "";
        var text = new StringBuilder();
        int position = offset, end = -1, length = 1, hops = 0;
        while (true)
        {
            Steps++;
            if (position >= message.Length)
                return false;
            int labelLength = message[position];
            if ((labelLength & 0xC0) == 0xC0)
            {
                if (position + 1 >= message.Length)
                    return false;
                int target = (labelLength & 0x3F) << 8 | message[position + 1];
                if (target >= position || ++hops > MaxPointerHops)
                    return false;
                if (end < 0)
                    end = position + 2;
                position = target;
                continue;
            }
            if ((labelLength & 0xC0) != 0)
                return false;
            if (labelLength == 0)
                break;
            length += 1 + labelLength;
            if (length > MaxWireLength || position + 1 + labelLength > message.Length)
                return false;
            var label = message.Slice(position + 1, labelLength);
            wire?.Add((byte)labelLength);
            wire?.AddRange(label);
            if (text.Length > 0)
                text.Append('.');
            if (printableAscii)
            {
                foreach (byte b in label)
                    text.Append(b is >= 33 and < 127 && b != '.' && b != '\\' ? (char)b : '?');
            }
            else
            {
                foreach (char c in Encoding.UTF8.GetString(label))
                {
                    if (c is '.' or '\\')
                        text.Append('\\');
                    text.Append(c);
                }
            }
            position += 1 + labelLength;
        }
        wire?.Add(0);
        offset = end >= 0 ? end : position + 1;
        name = text.ToString();
        return true;
    }

    /// <summary>DNS names compare without regard to ASCII case (RFC 1035 2.3.3; RFC 6762 16 for the rest).</summary>
    public static bool Equal(string a, string b) => string.Equals(a, b, StringComparison.OrdinalIgnoreCase);
}
