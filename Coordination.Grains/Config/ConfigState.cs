namespace Coordination.Grains;

/// <summary>
/// One configuration document: its last <see cref="Limits.HistoryVersionsMax"/> versions, oldest
/// first; the last is current. Empty (not existing) without versions.
/// </summary>
internal sealed class ConfigState : IGrainState<ConfigState>
{
    public List<ConfigVersion> Versions { get; } = new(1);

    public bool IsEmpty => Versions.Count == 0;

    public long CurrentVersion => IsEmpty ? 0 : Versions[^1].Version;

    public void CheckInvariants(string name, bool full)
    {
        GrainInvariant.Require(Versions.Count <= Limits.HistoryVersionsMax, $"Config '{name}' keeps too many versions.");
        for (var i = 1; i < Versions.Count; i++)
        {
            GrainInvariant.Require(
                Versions[i].Version == Versions[i - 1].Version + 1 && Versions[i].Revision > Versions[i - 1].Revision,
                $"Config '{name}': versions or revisions do not increase by one.");
        }
    }

    public void Write(BinaryEncoder encoder)
    {
        encoder.WriteCount(Versions.Count);
        foreach (var v in Versions)
        {
            encoder.WriteInt64(v.Version);
            encoder.WriteUInt64(v.Revision);
            encoder.WriteInt64(v.WrittenMs);
            encoder.WriteBytes(v.Value);
        }
    }

    public static ConfigState Read(ref BinaryDecoder decoder)
    {
        var state = new ConfigState();
        var count = decoder.ReadCount(Limits.HistoryVersionsMax);
        for (var i = 0; i < count; i++)
        {
            state.Versions.Add(new ConfigVersion(decoder.ReadInt64(), decoder.ReadUInt64(), decoder.ReadInt64(), decoder.ReadBytes(Limits.ConfigValueBytesMax)));
        }

        return state;
    }
}
