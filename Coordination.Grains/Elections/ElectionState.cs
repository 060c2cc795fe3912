namespace Coordination.Grains;

/// <summary>One election group: candidates in FIFO order, the first leads. Empty without candidates.</summary>
internal sealed class ElectionState : IGrainState<ElectionState>
{
    public List<Candidate> Candidates { get; } = new(1);

    /// <summary>Log index at which the current leader took over; 0 without a leader.</summary>
    public ulong LeaderToken { get; set; }

    public long LeaderSinceMs { get; set; }

    public bool IsEmpty => Candidates.Count == 0;

    public int IndexOf(ulong sessionId) => Candidates.FindIndex(c => c.SessionId == sessionId);

    public void CheckInvariants(string name, bool full)
    {
        GrainInvariant.Require(Candidates.Count <= Limits.CandidatesPerElectionMax, $"Election '{name}' has too many candidates.");
        GrainInvariant.Require((Candidates.Count == 0) == (LeaderToken == 0), $"Election '{name}': a leader token without a leader, or the reverse.");
        GrainInvariant.Require(!full || Candidates.Select(c => c.SessionId).Distinct().Count() == Candidates.Count, $"Election '{name}': a session campaigns twice.");
    }

    public void Write(BinaryEncoder encoder)
    {
        encoder.WriteUInt64(LeaderToken);
        encoder.WriteInt64(LeaderSinceMs);
        encoder.WriteCount(Candidates.Count);
        foreach (var c in Candidates)
        {
            encoder.WriteUInt64(c.SessionId);
            encoder.WriteBytes(c.Value);
            encoder.WriteInt64(c.JoinedMs);
        }
    }

    public static ElectionState Read(ref BinaryDecoder decoder)
    {
        var state = new ElectionState { LeaderToken = decoder.ReadUInt64(), LeaderSinceMs = decoder.ReadInt64() };
        var count = decoder.ReadCount(Limits.CandidatesPerElectionMax);
        for (var i = 0; i < count; i++)
        {
            state.Candidates.Add(new Candidate(decoder.ReadUInt64(), decoder.ReadBytes(Limits.ElectionValueBytesMax), decoder.ReadInt64()));
        }

        return state;
    }

    public ElectionInfo ToInfo(string name) =>
        new(name, Candidates.Count == 0 ? null : Candidates[0], LeaderToken, LeaderSinceMs, [.. Candidates]);
}
