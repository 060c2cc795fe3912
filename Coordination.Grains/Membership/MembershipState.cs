namespace Coordination.Grains;

/// <summary>One membership group: members by id (ordinal order). Empty without members.</summary>
internal sealed class MembershipState : IGrainState<MembershipState>
{
    public SortedDictionary<string, Member> Members { get; } = new(StringComparer.Ordinal);

    public bool IsEmpty => Members.Count == 0;

    public void CheckInvariants(string name, bool full)
    {
        GrainInvariant.Require(Members.Count <= Limits.MembersPerGroupMax, $"Group '{name}' has too many members.");
        if (!full)
        {
            return;
        }

        GrainInvariant.Require(Members.Values.Select(m => m.SessionId).Distinct().Count() == Members.Count, $"Group '{name}': a session has two members.");
        GrainInvariant.Require(Members.All(p => p.Key == p.Value.MemberId && p.Value.Metadata.Length <= Limits.MetadataBytesMax), $"Group '{name}': a member's key or metadata is wrong.");
    }

    public void Write(BinaryEncoder encoder)
    {
        encoder.WriteCount(Members.Count);
        foreach (var m in Members.Values)
        {
            encoder.WriteString(m.MemberId);
            encoder.WriteUInt64(m.SessionId);
            encoder.WriteBytes(m.Metadata);
            encoder.WriteUInt64(m.JoinedRevision);
            encoder.WriteUInt64(m.UpdatedRevision);
        }
    }

    public static MembershipState Read(ref BinaryDecoder decoder)
    {
        var state = new MembershipState();
        var count = decoder.ReadCount(Limits.MembersPerGroupMax);
        for (var i = 0; i < count; i++)
        {
            var member = new Member(decoder.ReadString(Limits.NameLengthMax), decoder.ReadUInt64(), decoder.ReadBytes(Limits.MetadataBytesMax), decoder.ReadUInt64(), decoder.ReadUInt64());
            if (!state.Members.TryAdd(member.MemberId, member))
            {
                throw new CorruptDataException($"Snapshot member '{member.MemberId}' appears twice.");
            }
        }

        return state;
    }
}
