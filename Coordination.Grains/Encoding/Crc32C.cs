using System.Buffers.Binary;
using System.Numerics;

namespace Coordination.Grains;

/// <summary>
/// CRC-32C (Castagnoli) as in iSCSI and ext4, on the hardware instruction that
/// <see cref="BitOperations.Crc32C(uint, ulong)"/> exposes; System.IO.Hashing is not available
/// (PACKAGES.md). Initial value and final XOR are all ones, so "123456789" gives 0xE3069283.
/// </summary>
public static class Crc32C
{
    public static uint Compute(ReadOnlySpan<byte> data)
    {
        var crc = uint.MaxValue;
        while (data.Length >= sizeof(ulong))
        {
            crc = BitOperations.Crc32C(crc, BinaryPrimitives.ReadUInt64LittleEndian(data));
            data = data[sizeof(ulong)..];
        }

        foreach (var b in data)
        {
            crc = BitOperations.Crc32C(crc, b);
        }

        return ~crc;
    }
}
