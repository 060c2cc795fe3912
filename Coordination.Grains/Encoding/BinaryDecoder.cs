using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Text;

namespace Coordination.Grains;

/// <summary>
/// Reader for <see cref="BinaryEncoder"/> output. Every read is bounds-checked and every length is
/// checked against a named maximum, so corrupt or hostile bytes end in
/// <see cref="CorruptDataException"/>, never in a huge allocation or an out-of-range read.
/// </summary>
internal ref struct BinaryDecoder(ReadOnlySpan<byte> data)
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private readonly ReadOnlySpan<byte> _data = data;
    private int _position;

    public readonly int Remaining => _data.Length - _position;

    private ReadOnlySpan<byte> Take(int count)
    {
        if (count < 0 || count > Remaining)
        {
            throw new CorruptDataException($"Truncated data: needed {count} bytes at offset {_position}, {Remaining} remain.");
        }

        var slice = _data.Slice(_position, count);
        _position += count;
        return slice;
    }

    public byte ReadByte() => Take(1)[0];

    public bool ReadBool() => ReadByte() switch
    {
        0 => false,
        1 => true,
        var other => throw new CorruptDataException($"A boolean byte must be 0 or 1, not {other}."),
    };

    public ushort ReadUInt16() => BinaryPrimitives.ReadUInt16LittleEndian(Take(2));

    public int ReadInt32() => BinaryPrimitives.ReadInt32LittleEndian(Take(4));

    public uint ReadUInt32() => BinaryPrimitives.ReadUInt32LittleEndian(Take(4));

    public long ReadInt64() => BinaryPrimitives.ReadInt64LittleEndian(Take(8));

    public ulong ReadUInt64() => BinaryPrimitives.ReadUInt64LittleEndian(Take(8));

    /// <summary>Reads a one-byte enum and rejects values the enum does not define.</summary>
    public TEnum ReadEnum<TEnum>()
        where TEnum : struct, Enum
    {
        var raw = ReadByte();
        var value = Unsafe.BitCast<byte, TEnum>(raw);
        if (!Enum.IsDefined(value))
        {
            throw new CorruptDataException($"{raw} is not a defined {typeof(TEnum).Name}.");
        }

        return value;
    }

    /// <summary>Reads a count prefix written by <see cref="BinaryEncoder.WriteCount"/>, at most <paramref name="max"/>.</summary>
    public int ReadCount(int max)
    {
        var count = ReadInt32();
        if (count < 0 || count > max)
        {
            throw new CorruptDataException($"Count {count} is outside 0..{max}.");
        }

        return count;
    }

    public byte[] ReadBytes(int maxLength) => Take(ReadCount(maxLength)).ToArray();

    public string ReadString(int maxBytes)
    {
        var bytes = Take(ReadCount(maxBytes));
        try
        {
            return StrictUtf8.GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            throw new CorruptDataException("A string is not valid UTF-8.");
        }
    }

    /// <summary>Trailing bytes mean the writer and reader disagree on the layout: corrupt, not ignorable.</summary>
    public readonly void EnsureEnd()
    {
        if (Remaining != 0)
        {
            throw new CorruptDataException($"{Remaining} unexpected trailing bytes.");
        }
    }
}
