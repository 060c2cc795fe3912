using System.Text.Json;
using Coordination.Grains;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Coordination.Api.Endpoints;

public sealed record TransactionConditionDto(string? Type, string? Name, long? Version, string? LockName, ulong? Token);

public sealed record TransactionOperationDto(string? Type, string? Name, JsonElement? Value, int? Count, ulong? SessionId = null, ulong? Token = null);

public sealed record TransactionRequest(IReadOnlyList<TransactionConditionDto>? Conditions, IReadOnlyList<TransactionOperationDto>? Operations);

public sealed record TransactionResultDto(string Type, string Name, long? Version = null, ulong? Revision = null, ulong? First = null, int? Count = null, ulong? Token = null, int? WaitersGranted = null);

public sealed record TransactionResponse(ulong Revision, IReadOnlyList<TransactionResultDto> Results);

/// <summary>Atomic multi-document transactions: conditions and operations applied all or nothing in one log entry.</summary>
internal static class TransactionEndpoints
{
    public static RouteGroupBuilder MapTransactions(this RouteGroupBuilder group)
    {
        group.MapPost("/", Apply).Produces<TransactionResponse>().ProducesProblem(409);
        return group;
    }

    private static Task<IResult> Apply(HttpContext http, ICoordinationGateway gateway, TransactionRequest body)
    {
        var conditions = new List<TransactionCondition>();
        foreach (var (c, i) in (body.Conditions ?? []).Select((c, i) => (c, i)))
        {
            // JSON may hold null elements whatever the declared nullability: refused as malformed, not a 500.
            TransactionCondition? condition = c is null ? null : c.Type switch
            {
                "config-version" when c.Name is not null && c.Version is >= 0 => new ConfigVersionIs(c.Name, c.Version.Value),
                "config-absent" when c.Name is not null => new ConfigVersionIs(c.Name, 0),
                "lock-token" when c.LockName is not null && c.Token is not null => new LockTokenIs(c.LockName, c.Token.Value),
                _ => null,
            };
            if (condition is null)
            {
                return Invalid($"conditions[{i}]", "A condition is {type: config-version, name, version}, {type: config-absent, name} or {type: lock-token, lockName, token}.");
            }

            conditions.Add(condition);
        }

        var operations = new List<TransactionOperation>();
        foreach (var (o, i) in (body.Operations ?? []).Select((o, i) => (o, i)))
        {
            TransactionOperation? operation = o is null ? null : o.Type switch
            {
                "put" when o.Name is not null && GatewayCalls.JsonBytes(o.Value) is { } value => new PutConfigOperation(o.Name, value),
                "delete" when o.Name is not null => new DeleteConfigOperation(o.Name),
                "next" when o.Name is not null => new ReserveSequenceOperation(o.Name, o.Count ?? 1),
                "release" when o.Name is not null && o.SessionId is not null && o.Token is not null => new ReleaseLockOperation(o.Name, o.SessionId.Value, o.Token.Value),
                _ => null,
            };
            if (operation is null)
            {
                return Invalid($"operations[{i}]", "An operation is {type: put, name, value}, {type: delete, name}, {type: next, name, count} or {type: release, name, sessionId, token}.");
            }

            if (operation is PutConfigOperation or DeleteConfigOperation && GatewayCalls.Reserved(o!.Name!))
            {
                return Task.FromResult<IResult>(Problems.ReservedName(o.Name!));
            }

            operations.Add(operation);
        }

        if (operations.Count is < 1 or > Limits.TransactionOperationsMax || conditions.Count > Limits.TransactionConditionsMax)
        {
            return Invalid("operations", $"A transaction has 1..{Limits.TransactionOperationsMax} operations and at most {Limits.TransactionConditionsMax} conditions.");
        }

        return GatewayCalls.Execute(http, gateway, new ApplyTransaction(conditions, operations), r =>
        {
            var applied = (TransactionApplied)r;
            var revision = ulong.Parse(http.Response.Headers[GatewayCalls.RevisionHeader]!, System.Globalization.CultureInfo.InvariantCulture);
            return TypedResults.Ok(new TransactionResponse(revision, [.. applied.Results.Select(Describe)]));
        });
    }

    private static TransactionResultDto Describe(CommandResult result) => result switch
    {
        ConfigPut put => new TransactionResultDto("put", put.Name, put.Version, put.Revision),
        ConfigDeleted deleted => new TransactionResultDto("delete", deleted.Name, deleted.Version),
        SequenceReserved reserved => new TransactionResultDto("next", reserved.Name, First: reserved.First, Count: reserved.Count),
        LockReleased released => new TransactionResultDto("release", released.Name, Token: released.Token, WaitersGranted: released.WaitersGranted),
        _ => throw new InvalidOperationException($"unexpected transaction result {result}"),
    };

    private static Task<IResult> Invalid(string field, string message) => Task.FromResult<IResult>(Problems.Validation(field, message));
}
