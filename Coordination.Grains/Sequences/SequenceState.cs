namespace Coordination.Grains;

/// <summary>One counter: the last value handed out. Never returns to empty once used, so values are never reused.</summary>
internal sealed class SequenceState : IGrainState<SequenceState>
{
    public ulong Last { get; set; }

    public bool IsEmpty => Last == 0;

    public void CheckInvariants(string name, bool full)
    {
    }

    public void Write(BinaryEncoder encoder) => encoder.WriteUInt64(Last);

    public static SequenceState Read(ref BinaryDecoder decoder) => new() { Last = decoder.ReadUInt64() };
}
