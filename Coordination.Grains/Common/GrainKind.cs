namespace Coordination.Grains;

/// <summary>
/// The kinds of grain. The numeric values are written into commands, events and snapshots, so
/// they are stable forever: never renumber, only add.
/// </summary>
public enum GrainKind : byte
{
    Session = 1,
    Lock = 2,
    Election = 3,
    Membership = 4,
    Config = 5,
    Sequence = 6,
}

/// <summary>
/// Why a command was rejected. Stable numeric values: the API maps them to HTTP statuses and
/// clients switch on them. A rejected command leaves every grain exactly as it was.
/// </summary>
public enum ErrorCode : byte
{
    None = 0,
    NotFound = 1,
    VersionMismatch = 2,
    LockNotHeld = 3,
    WrongToken = 4,
    SessionNotFound = 5,
    /// <summary>The session still exists but its deadline has passed: the next <see cref="AdvanceTime"/> removes it.</summary>
    SessionExpired = 6,
    LimitExceeded = 7,
    InvalidName = 8,
    InvalidArgument = 9,
    /// <summary>A try-acquire (wait of zero) found the lock unavailable.</summary>
    LockBusy = 10,
    /// <summary>The session already holds, waits for, campaigns in or is a member of this grain, or the member id is taken.</summary>
    AlreadyExists = 11,

    /// <summary>A condition of an atomic transaction did not hold.</summary>
    ConditionFailed = 12,

    /// <summary>The distributed transaction already decided commit; it can no longer abort.</summary>
    AlreadyDecided = 13,

    /// <summary>
    /// The command is newer than the silo's <c>CommandLevel</c>: held back while older silos that
    /// could not apply it may still run (a rolling upgrade). Made by the gateway, never applied.
    /// </summary>
    HeldBack = 14,
}
