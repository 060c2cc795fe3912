namespace Coordination.Grains;

/// <summary>Configuration document commands. Validate first, then change.</summary>
internal static class ConfigGrain
{
    private const GrainKind Kind = GrainKind.Config;

    public static CommandResult Put(ConfigState state, PutConfig c, StepContext ctx) =>
        CheckValue(c.Value) ?? CheckVersion(state, c.Name, c.ExpectedVersion) ?? Write(state, c.Name, c.Value, ctx);

    public static CommandResult Delete(ConfigState state, DeleteConfig c, StepContext ctx)
    {
        if (state.IsEmpty)
        {
            return NotFound(c.Name);
        }

        if (CheckVersion(state, c.Name, c.ExpectedVersion) is { } versionRejected)
        {
            return versionRejected;
        }

        var version = state.CurrentVersion;
        state.Versions.Clear();
        ctx.Emit(EventType.ConfigDeleted, Kind, c.Name, version: version);
        return new ConfigDeleted(c.Name, version);
    }

    public static CommandResult Rollback(ConfigState state, RollbackConfig c, StepContext ctx)
    {
        if (state.IsEmpty)
        {
            return NotFound(c.Name);
        }

        var target = state.Versions.Find(v => v.Version == c.ToVersion);
        if (target is null)
        {
            return new Rejected(ErrorCode.NotFound, $"Config '{c.Name}' does not keep version {c.ToVersion} (HistoryVersionsMax = {Limits.HistoryVersionsMax}).");
        }

        return CheckVersion(state, c.Name, c.ExpectedVersion) ?? Write(state, c.Name, target.Value, ctx);
    }

    /// <param name="fence">The lock named by the command, or null if it is not held by anyone.</param>
    public static CommandResult FencedPut(ConfigState state, FencedPutConfig c, LockState? fence, StepContext ctx)
    {
        if (!Names.IsValid(c.LockName))
        {
            return new Rejected(ErrorCode.InvalidName, $"'{c.LockName}' is not a valid lock name.");
        }

        if (CheckValue(c.Value) is { } valueRejected)
        {
            return valueRejected;
        }

        if (fence is null || fence.Holders.Count == 0)
        {
            return new Rejected(ErrorCode.LockNotHeld, $"Lock '{c.LockName}' is not held.");
        }

        if (fence.Holders[0] is not { Mode: LockMode.Exclusive } holder || holder.Token != c.Token)
        {
            return new Rejected(ErrorCode.WrongToken, $"Token {c.Token} is not the current exclusive hold of lock '{c.LockName}'.");
        }

        return Write(state, c.Name, c.Value, ctx);
    }

    private static CommandResult Write(ConfigState state, string name, byte[] value, StepContext ctx)
    {
        var version = new ConfigVersion(state.CurrentVersion + 1, ctx.Index, ctx.NowMs, value);
        if (state.Versions.Count == Limits.HistoryVersionsMax)
        {
            state.Versions.RemoveAt(0);
        }

        state.Versions.Add(version);
        ctx.Emit(EventType.ConfigPut, Kind, name, version: version.Version);
        return new ConfigPut(name, version.Version, version.Revision);
    }

    private static Rejected? CheckValue(byte[] value) =>
        JsonValue.Check(value, Limits.ConfigValueBytesMax, nameof(Limits.ConfigValueBytesMax), "A configuration value", allowEmpty: false);

    private static Rejected? CheckVersion(ConfigState state, string name, long expected)
    {
        if (expected < PutConfig.AnyVersion)
        {
            return new Rejected(ErrorCode.InvalidArgument, $"Expected version {expected} is neither -1 (any), 0 (absent) nor a version.");
        }

        return expected == PutConfig.AnyVersion || expected == state.CurrentVersion
            ? null
            : new Rejected(ErrorCode.VersionMismatch, $"Config '{name}' is at version {state.CurrentVersion}, not {expected}.");
    }

    private static Rejected NotFound(string name) => new(ErrorCode.NotFound, $"Config '{name}' does not exist.");
}
