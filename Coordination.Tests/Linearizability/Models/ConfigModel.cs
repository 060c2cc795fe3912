namespace Coordination.Tests.Linearizability.Models;

public enum ConfigOp
{
    /// <summary>Unconditional write (`PUT /v1/config/{name}` without expectedVersion).</summary>
    Put,

    /// <summary>Write if the current version is <see cref="ConfigInput.ExpectedVersion"/> (0: must not exist).</summary>
    CompareAndSet,

    /// <summary>Linearizable read.</summary>
    Get,
}

public sealed record ConfigInput(string Name, ConfigOp Op, string? Value = null, long ExpectedVersion = 0);

public enum ConfigResult
{
    /// <summary>The write made <see cref="ConfigOutput.Version"/>.</summary>
    Written,

    /// <summary>Compare-and-set refused (`409 version-mismatch`).</summary>
    Mismatch,

    /// <summary>A read saw <see cref="ConfigOutput.Version"/> (0: no document) and <see cref="ConfigOutput.Value"/>.</summary>
    Read,
}

public sealed record ConfigOutput(ConfigResult Result, long Version = 0, string? Value = null)
{
    public static ConfigOutput Written(long version) => new(ConfigResult.Written, version);

    public static ConfigOutput Mismatch { get; } = new(ConfigResult.Mismatch);

    public static ConfigOutput Read(long version, string? value) => new(ConfigResult.Read, version, value);
}

/// <summary>Version 0 is "no document"; every write makes the next version.</summary>
public sealed record ConfigState(long Version, string? Value);

/// <summary>
/// A versioned configuration document (docs/api.md, "Configuration documents"): every write
/// makes version + 1, compare-and-set writes only at the expected version, reads see the last
/// write. Partitioned by document name.
/// </summary>
public sealed class ConfigModel : IModel<ConfigState, ConfigInput, ConfigOutput>
{
    public static ConfigModel Instance { get; } = new();

    public ConfigState Initial { get; } = new(0, null);

    public string PartitionOf(ConfigInput input) => input.Name;

    public bool ChangesNothing(ConfigInput input, ConfigOutput output) => output.Result is ConfigResult.Read or ConfigResult.Mismatch;

    public void Step(ConfigState state, ConfigInput input, ConfigOutput? output, List<ConfigState> next)
    {
        var written = new ConfigState(state.Version + 1, input.Value);
        switch (input.Op)
        {
            case ConfigOp.Put when output is null || (output.Result == ConfigResult.Written && output.Version == written.Version):
                next.Add(written);
                break;
            case ConfigOp.CompareAndSet when input.ExpectedVersion == state.Version && (output is null || (output.Result == ConfigResult.Written && output.Version == written.Version)):
                next.Add(written);
                break;
            case ConfigOp.CompareAndSet when input.ExpectedVersion != state.Version && (output is null || output.Result == ConfigResult.Mismatch):
                next.Add(state);
                break;
            case ConfigOp.Get when output is null || (output.Result == ConfigResult.Read && output.Version == state.Version && output.Value == state.Value):
                next.Add(state);
                break;
        }
    }
}
