using System.Net;

namespace Coordination.Client;

/// <summary>The stable error codes of docs/api.md ("Errors"), plus <see cref="Unreachable"/> and <see cref="Unknown"/>.</summary>
public enum CoordinationError
{
    /// <summary>A code this client does not know (a newer silo); see <see cref="CoordinationException.Code"/>.</summary>
    Unknown,
    Validation,
    MalformedJson,
    InvalidName,
    InvalidArgument,
    NotFound,
    SessionNotFound,
    VersionMismatch,
    LockBusy,
    LockWaitTimeout,
    LockNotHeld,
    WrongToken,
    AlreadyExists,
    SessionExpired,
    BodyTooLarge,
    LimitExceeded,
    IdempotencyKeyReused,
    NoLeader,
    Overloaded,
    Timeout,

    /// <summary>No endpoint answered (connection errors or attempt timeouts on every try); not a silo's code.</summary>
    Unreachable,

    /// <summary>A transaction condition did not hold (<c>condition-failed</c>); see <see cref="Transactions.TransactionConditionFailedException"/>.</summary>
    ConditionFailed,

    /// <summary>An abort of a distributed transaction that already decided commit (<c>already-decided</c>).</summary>
    AlreadyDecided,

    /// <summary>The command is newer than the cluster's command level, lowered during a rolling upgrade (<c>held-back</c>).</summary>
    HeldBack,
}

/// <summary>
/// A request the cluster refused or could not answer. <see cref="Code"/> is the ProblemDetails <c>code</c>
/// (or <c>unreachable</c> when no silo answered), <see cref="Status"/> the HTTP status (0 when none).
/// </summary>
public class CoordinationException : Exception
{
    private static readonly Dictionary<string, CoordinationError> Codes = new(StringComparer.Ordinal)
    {
        ["validation"] = CoordinationError.Validation,
        ["malformed-json"] = CoordinationError.MalformedJson,
        ["invalid-name"] = CoordinationError.InvalidName,
        ["invalid-argument"] = CoordinationError.InvalidArgument,
        ["not-found"] = CoordinationError.NotFound,
        ["session-not-found"] = CoordinationError.SessionNotFound,
        ["version-mismatch"] = CoordinationError.VersionMismatch,
        ["lock-busy"] = CoordinationError.LockBusy,
        ["lock-wait-timeout"] = CoordinationError.LockWaitTimeout,
        ["lock-not-held"] = CoordinationError.LockNotHeld,
        ["wrong-token"] = CoordinationError.WrongToken,
        ["already-exists"] = CoordinationError.AlreadyExists,
        ["session-expired"] = CoordinationError.SessionExpired,
        ["body-too-large"] = CoordinationError.BodyTooLarge,
        ["limit-exceeded"] = CoordinationError.LimitExceeded,
        ["idempotency-key-reused"] = CoordinationError.IdempotencyKeyReused,
        ["no-leader"] = CoordinationError.NoLeader,
        ["overloaded"] = CoordinationError.Overloaded,
        ["timeout"] = CoordinationError.Timeout,
        ["condition-failed"] = CoordinationError.ConditionFailed,
        ["already-decided"] = CoordinationError.AlreadyDecided,
        ["held-back"] = CoordinationError.HeldBack,
        ["unreachable"] = CoordinationError.Unreachable,
    };

    public CoordinationException()
        : this("unknown", 0, "The coordination service refused the request.")
    {
    }

    public CoordinationException(string message)
        : this("unknown", 0, message)
    {
    }

    public CoordinationException(string message, Exception innerException)
        : this("unknown", 0, message, innerException)
    {
    }

    public CoordinationException(string code, int status, string message, Exception? innerException = null, TimeSpan? retryAfter = null)
        : base(message, innerException)
    {
        Code = code;
        Status = status;
        Error = Codes.GetValueOrDefault(code, CoordinationError.Unknown);
        RetryAfter = retryAfter;
    }

    /// <summary>The ProblemDetails <c>code</c>, e.g. <c>version-mismatch</c>.</summary>
    public string Code { get; }

    /// <summary>The HTTP status, or 0 when no silo answered.</summary>
    public int Status { get; }

    /// <summary><see cref="Code"/> as an enum value.</summary>
    public CoordinationError Error { get; }

    /// <summary>The revision the refusal reflects (<c>X-Coordination-Revision</c>), when the silo sent it.</summary>
    public long? Revision { get; init; }

    /// <summary>The silo's <c>Retry-After</c>, when it sent one.</summary>
    public TimeSpan? RetryAfter { get; }

    /// <summary>
    /// True for answers that say "try again" without having applied anything, or (for <c>timeout</c>)
    /// whose outcome is unknown and which are safe to repeat with the same idempotency key.
    /// </summary>
    public bool IsTransient => Error is CoordinationError.NoLeader or CoordinationError.Overloaded or CoordinationError.Timeout or CoordinationError.Unreachable
        || (Error == CoordinationError.Unknown && Status is (int)HttpStatusCode.ServiceUnavailable or (int)HttpStatusCode.GatewayTimeout or (int)HttpStatusCode.BadGateway);

    /// <summary>True when the session behind the request is gone for good (<c>session-expired</c>, <c>session-not-found</c>).</summary>
    public bool IsSessionGone => Error is CoordinationError.SessionExpired or CoordinationError.SessionNotFound;
}
