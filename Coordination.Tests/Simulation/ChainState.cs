using System.Buffers.Binary;
using Coordination.Consensus;

namespace Coordination.Tests.Simulation;

/// <summary>
/// The simulated application: a hash chain over every applied entry. Two nodes with the same
/// (index, chain) applied exactly the same entries in the same order.
/// </summary>
public sealed class ChainState
{
    public ulong Index { get; private set; }

    public ulong Chain { get; private set; }

    public void Apply(in LogEntry entry)
    {
        Invariant.Require(entry.Index == Index + 1, $"applied {entry.Index} after {Index}: not contiguous");
        Index = entry.Index;
        Chain = Mix(Chain, entry);
    }

    public static ulong Mix(ulong chain, in LogEntry entry)
    {
        const ulong prime = 1099511628211UL;
        var hash = chain ^ 14695981039346656037UL;
        hash = (hash ^ entry.Index) * prime;
        hash = (hash ^ entry.Term) * prime;
        hash = (hash ^ (ulong)entry.Kind) * prime;
        return (hash ^ DataHash(entry.Data)) * prime;
    }

    public static ulong DataHash(ReadOnlySpan<byte> data)
    {
        var hash = 14695981039346656037UL;
        foreach (var b in data)
        {
            hash = (hash ^ b) * 1099511628211UL;
        }

        return hash;
    }

    public byte[] Encode()
    {
        var bytes = new byte[16];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, Index);
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(8), Chain);
        return bytes;
    }

    public static ChainState Decode(ReadOnlySpan<byte> bytes)
    {
        if (bytes.IsEmpty)
        {
            return new ChainState();
        }

        Invariant.Require(bytes.Length == 16, "a chain snapshot is 16 bytes");
        return new ChainState
        {
            Index = BinaryPrimitives.ReadUInt64LittleEndian(bytes),
            Chain = BinaryPrimitives.ReadUInt64LittleEndian(bytes[8..]),
        };
    }
}
