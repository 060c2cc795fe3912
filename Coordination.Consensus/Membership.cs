using System.Buffers.Binary;
using System.Collections.Immutable;

namespace Coordination.Consensus;

/// <summary>
/// A cluster configuration: the voters, whose majority decides, and the learners, which receive
/// the log but neither vote nor count towards a quorum. A node uses the latest membership in its
/// log, committed or not (Raft dissertation §4.1); changes are one server at a time.
/// </summary>
public sealed class Membership : IEquatable<Membership>
{
    /// <summary>Most members a configuration may name; bounds message and snapshot sizes.</summary>
    public const int MembersMax = 64;

    public static readonly Membership Empty = new([], []);

    public Membership(IEnumerable<ulong> voters, IEnumerable<ulong> learners)
    {
        Voters = [.. voters];
        Learners = [.. learners];
        Invariant.Require(!Voters.Contains(0) && !Learners.Contains(0), "node id 0 means 'none' and cannot be a member");
        Invariant.Require(!Voters.Overlaps(Learners), "a node is either a voter or a learner, not both");
        Invariant.Require(Voters.Count + Learners.Count <= MembersMax, $"a membership holds at most {MembersMax} nodes");
    }

    /// <summary>Voters, in ascending id order (deterministic iteration).</summary>
    public ImmutableSortedSet<ulong> Voters { get; }

    /// <summary>Learners, in ascending id order.</summary>
    public ImmutableSortedSet<ulong> Learners { get; }

    /// <summary>Every member, voters first, each in ascending order.</summary>
    public IEnumerable<ulong> All => Voters.Concat(Learners);

    public bool IsVoter(ulong id) => Voters.Contains(id);

    public bool IsLearner(ulong id) => Learners.Contains(id);

    public bool Contains(ulong id) => IsVoter(id) || IsLearner(id);

    /// <summary>Votes needed for a majority of the voters.</summary>
    public int Quorum => (Voters.Count / 2) + 1;

    public Membership AddLearner(ulong id) => new(Voters, Learners.Add(id));

    public Membership Promote(ulong id) => new(Voters.Add(id), Learners.Remove(id));

    public Membership Remove(ulong id) => new(Voters.Remove(id), Learners.Remove(id));

    /// <summary>Encodes as: voter count, voter ids, learner count, learner ids (little-endian).</summary>
    public byte[] Encode()
    {
        var bytes = new byte[4 + (8 * Voters.Count) + 4 + (8 * Learners.Count)];
        var span = bytes.AsSpan();
        BinaryPrimitives.WriteInt32LittleEndian(span, Voters.Count);
        span = span[4..];
        foreach (var id in Voters)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(span, id);
            span = span[8..];
        }

        BinaryPrimitives.WriteInt32LittleEndian(span, Learners.Count);
        span = span[4..];
        foreach (var id in Learners)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(span, id);
            span = span[8..];
        }

        return bytes;
    }

    /// <summary>Decodes what <see cref="Encode"/> wrote; malformed input is an invariant violation.</summary>
    public static Membership Decode(ReadOnlySpan<byte> bytes)
    {
        var voters = ReadIds(ref bytes);
        var learners = ReadIds(ref bytes);
        Invariant.Require(bytes.IsEmpty, "trailing bytes after a membership");
        return new Membership(voters, learners);
    }

    private static ulong[] ReadIds(ref ReadOnlySpan<byte> bytes)
    {
        Invariant.Require(bytes.Length >= 4, "truncated membership");
        var count = BinaryPrimitives.ReadInt32LittleEndian(bytes);
        bytes = bytes[4..];
        Invariant.Require(count >= 0 && count <= MembersMax && bytes.Length >= count * 8, "malformed membership");
        var ids = new ulong[count];
        for (var i = 0; i < count; i++)
        {
            ids[i] = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
            bytes = bytes[8..];
        }

        return ids;
    }

    public bool Equals(Membership? other) =>
        other is not null && Voters.SequenceEqual(other.Voters) && Learners.SequenceEqual(other.Learners);

    public override bool Equals(object? obj) => Equals(obj as Membership);

    public override int GetHashCode() => HashCode.Combine(Voters.Count, Learners.Count, Voters.FirstOrDefault());

    public override string ToString() => $"voters [{string.Join(",", Voters)}] learners [{string.Join(",", Learners)}]";
}
