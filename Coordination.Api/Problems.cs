using Coordination.Grains;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;

namespace Coordination.Api;

/// <summary>Stable machine-readable error codes (docs/api.md) and their HTTP statuses.</summary>
public static class Problems
{
    public const string CodeKey = "code";

    public static ProblemHttpResult Create(int status, string code, string detail, IDictionary<string, object?>? extensions = null)
    {
        var problem = new ProblemDetails
        {
            Status = status,
            Title = Title(code),
            Detail = detail,
            Type = $"https://coordination.local/errors/{code}",
        };
        problem.Extensions[CodeKey] = code;
        if (extensions is not null)
        {
            foreach (var (key, value) in extensions)
            {
                problem.Extensions[key] = value;
            }
        }

        return TypedResults.Problem(problem);
    }

    public static ProblemHttpResult From(Rejected rejected) => rejected.Code switch
    {
        ErrorCode.NotFound => Create(404, "not-found", rejected.Message),
        ErrorCode.SessionNotFound => Create(404, "session-not-found", rejected.Message),
        ErrorCode.VersionMismatch => Create(409, "version-mismatch", rejected.Message),
        ErrorCode.LockBusy => Create(409, "lock-busy", rejected.Message),
        ErrorCode.LockNotHeld => Create(409, "lock-not-held", rejected.Message),
        ErrorCode.WrongToken => Create(409, "wrong-token", rejected.Message),
        ErrorCode.AlreadyExists => Create(409, "already-exists", rejected.Message),
        ErrorCode.ConditionFailed => Create(409, "condition-failed", rejected.Message),
        ErrorCode.AlreadyDecided => Create(409, "already-decided", rejected.Message),
        ErrorCode.HeldBack => Create(409, "held-back", rejected.Message),
        ErrorCode.SessionExpired => Create(410, "session-expired", rejected.Message),
        ErrorCode.LimitExceeded => Create(422, "limit-exceeded", rejected.Message),
        ErrorCode.InvalidName => Create(400, "invalid-name", rejected.Message),
        _ => Create(400, "invalid-argument", rejected.Message),
    };

    public static ProblemHttpResult Validation(string field, string message) =>
        Create(400, "validation", message, new Dictionary<string, object?> { ["errors"] = new Dictionary<string, string[]> { [field] = [message] } });

    public static ProblemHttpResult ReservedName(string name) =>
        Create(400, "invalid-name", $"'{name}' is reserved: config documents named '{CoordinationApi.ReservedConfigPrefix}...' belong to the service and are read-only to clients.");

    public static ProblemHttpResult InvalidName(string name) =>
        Create(400, "invalid-name", $"'{name}' is not a valid name: 1-{Limits.NameLengthMax} characters from A-Z a-z 0-9 . _ - / :.");

    private static string Title(string code) => code switch
    {
        "not-found" => "Not found",
        "session-not-found" => "Session not found",
        "version-mismatch" => "Version mismatch",
        "lock-busy" => "Lock busy",
        "lock-wait-timeout" => "Lock wait timed out",
        "lock-not-held" => "Lock not held",
        "wrong-token" => "Wrong fencing token",
        "already-exists" => "Already exists",
        "condition-failed" => "Transaction condition failed",
        "already-decided" => "Transaction already decided",
        "held-back" => "Held back during an upgrade",
        "learner-not-caught-up" => "Learner not caught up",
        "membership-change-pending" => "Membership change pending",
        "invalid-membership-change" => "Invalid membership change",
        "session-expired" => "Session expired",
        "limit-exceeded" => "Limit exceeded",
        "invalid-name" => "Invalid name",
        "invalid-argument" => "Invalid argument",
        "validation" => "Validation failed",
        "malformed-json" => "Malformed JSON",
        "body-too-large" => "Body too large",
        "idempotency-key-reused" => "Idempotency key reused",
        "no-leader" => "No leader",
        "overloaded" => "Overloaded",
        "revision-not-applied" => "Revision not applied yet",
        "timeout" => "Outcome unknown",
        _ => "Error",
    };
}
