using System.Buffers.Binary;
using System.Numerics;

namespace Coordination.Silo.Storage;

/// <summary>
/// CRC-32C (Castagnoli) as iSCSI and ext4 define it: initial value and final XOR 0xFFFFFFFF, so a run
/// of zero bytes does not checksum to zero and a zero-filled region never passes as a valid record.
/// Built on <see cref="BitOperations.Crc32C(uint, ulong)"/> (a hardware instruction on x64 and Arm64).
/// </summary>
public static class Crc32C
{
    public static uint Compute(ReadOnlySpan<byte> data) => ~Append(uint.MaxValue, data);

    /// <summary>Continues a running (not yet inverted) CRC with <paramref name="data"/>.</summary>
    private static uint Append(uint crc, ReadOnlySpan<byte> data)
    {
        while (data.Length >= 8)
        {
            crc = BitOperations.Crc32C(crc, BinaryPrimitives.ReadUInt64LittleEndian(data));
            data = data[8..];
        }

        foreach (var b in data)
        {
            crc = BitOperations.Crc32C(crc, b);
        }

        return crc;
    }
}
