using System.Buffers.Binary;
using System.Numerics;

namespace Coordination.Client.Participants;

/// <summary>
/// CRC-32C (Castagnoli) on the hardware instruction; the same function the silo uses for its records
/// (initial value and final XOR all ones: "123456789" gives 0xE3069283). The client may not depend on the server's copy.
/// </summary>
internal static class Crc32C
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
