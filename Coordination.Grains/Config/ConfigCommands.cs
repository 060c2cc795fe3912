namespace Coordination.Grains;

/// <summary>
/// Write configuration document <paramref name="Name"/> (one JSON value, at most
/// <see cref="Limits.ConfigValueBytesMax"/> bytes) as a new version.
/// </summary>
/// <param name="ExpectedVersion">
/// <see cref="AnyVersion"/> (-1) writes unconditionally; 0 only if the document does not exist;
/// n only if the current version is n (compare-and-set).
/// </param>
public sealed record PutConfig(string Name, byte[] Value, long ExpectedVersion = PutConfig.AnyVersion) : Command
{
    public const long AnyVersion = -1;
}

/// <summary>
/// Delete the document and its history. Versions start again at 1 if it is written again; a
/// client that must tell the two lives apart compares <see cref="ConfigVersion.Revision"/>.
/// </summary>
public sealed record DeleteConfig(string Name, long ExpectedVersion = PutConfig.AnyVersion) : Command;

/// <summary>Write the value of kept version <paramref name="ToVersion"/> again, as a new version.</summary>
public sealed record RollbackConfig(string Name, long ToVersion, long ExpectedVersion = PutConfig.AnyVersion) : Command;

/// <summary>
/// Write only if <paramref name="Token"/> is the fencing token of the current exclusive holder of
/// lock <paramref name="LockName"/>: a holder whose grant was lost (expired, revoked) can never
/// overwrite the document, however late its write arrives.
/// </summary>
public sealed record FencedPutConfig(string Name, byte[] Value, string LockName, ulong Token) : Command;

/// <summary>The document now has <paramref name="Version"/>, written at <paramref name="Revision"/> (the log index).</summary>
public sealed record ConfigPut(string Name, long Version, ulong Revision) : CommandResult;

public sealed record ConfigDeleted(string Name, long Version) : CommandResult;

/// <summary>One version of a document.</summary>
public sealed record ConfigVersion(long Version, ulong Revision, long WrittenMs, byte[] Value);
