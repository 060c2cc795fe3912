using Coordination.Grains;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Coordination.Api.Endpoints;

internal static class ConfigEndpoints
{
    public static RouteGroupBuilder MapConfig(this RouteGroupBuilder group)
    {
        group.MapGet("/{name}", Get).Produces<ConfigResponse>().ProducesProblem(404);
        group.MapPut("/{name}", Put).Produces<ConfigWriteResponse>().ProducesProblem(409);
        group.MapDelete("/{name}", Delete).Produces<ConfigDeleteResponse>().ProducesProblem(409);
        group.MapGet("/{name}/history", History).Produces<ConfigHistoryResponse>();
        group.MapPost("/{name}/rollback", Rollback).Produces<ConfigWriteResponse>().ProducesProblem(409);
        group.MapPut("/{name}/fenced", FencedPut).Produces<ConfigWriteResponse>().ProducesProblem(409);
        return group;
    }

    private static Task<IResult> Get(HttpContext http, ICoordinationGateway gateway, string name, string? consistency) =>
        Invalid(name) ?? GatewayCalls.Read(http, gateway, consistency, sm => sm.GetConfig(name), version => version is null
            ? Problems.Create(404, "not-found", $"Config document '{name}' does not exist.")
            : TypedResults.Ok(Response(name, version)));

    /// <summary>A document's answer body (also a lock grant's guarded document).</summary>
    public static ConfigResponse Response(string name, ConfigVersion version) =>
        new(name, version.Version, version.Revision, version.WrittenMs, GatewayCalls.JsonValue(version.Value));

    private static Task<IResult> Put(HttpContext http, ICoordinationGateway gateway, string name, PutConfigRequest body)
    {
        if (InvalidForWrite(name) is { } invalid)
        {
            return invalid;
        }

        if (GatewayCalls.JsonBytes(body.Value) is not { } value)
        {
            return Task.FromResult<IResult>(Problems.Validation("value", "value is required (any JSON value)."));
        }

        if (InvalidExpectedVersion(body.ExpectedVersion) is { } badVersion)
        {
            return badVersion;
        }

        return GatewayCalls.Execute(http, gateway, new PutConfig(name, value, body.ExpectedVersion ?? PutConfig.AnyVersion), Written);
    }

    /// <summary>A refusal of an expectedVersion that is no version (checked here, so it never takes a log entry), or null.</summary>
    private static Task<IResult>? InvalidExpectedVersion(long? expectedVersion) => expectedVersion is < 0
        ? Task.FromResult<IResult>(Problems.Validation("expectedVersion", "expectedVersion is 0 (must not exist) or a version number."))
        : null;

    private static Task<IResult> Delete(HttpContext http, ICoordinationGateway gateway, string name, long? expectedVersion) =>
        InvalidForWrite(name) ?? InvalidExpectedVersion(expectedVersion) ?? GatewayCalls.Execute(http, gateway, new DeleteConfig(name, expectedVersion ?? PutConfig.AnyVersion), r =>
        {
            var deleted = (ConfigDeleted)r;
            return TypedResults.Ok(new ConfigDeleteResponse(name, deleted.Version));
        });

    private static Task<IResult> History(HttpContext http, ICoordinationGateway gateway, string name, string? consistency) =>
        Invalid(name) ?? GatewayCalls.Read(http, gateway, consistency, sm => sm.GetConfigHistory(name), versions => TypedResults.Ok(new ConfigHistoryResponse(
            name,
            [.. versions.Select(v => new ConfigVersionDto(v.Version, v.Revision, v.WrittenMs, GatewayCalls.JsonValue(v.Value)))])));

    private static Task<IResult> Rollback(HttpContext http, ICoordinationGateway gateway, string name, RollbackRequest body) =>
        InvalidForWrite(name) ?? InvalidExpectedVersion(body.ExpectedVersion)
        ?? (body.ToVersion < 1 ? Task.FromResult<IResult>(Problems.Validation("toVersion", "toVersion is a version number (1 or more).")) : null)
        ?? GatewayCalls.Execute(http, gateway, new RollbackConfig(name, body.ToVersion, body.ExpectedVersion ?? PutConfig.AnyVersion), Written);

    private static Task<IResult> FencedPut(HttpContext http, ICoordinationGateway gateway, string name, FencedPutRequest body)
    {
        if (InvalidForWrite(name) is { } invalid)
        {
            return invalid;
        }

        if (body.LockName is null || !GatewayCalls.ValidName(body.LockName))
        {
            return Task.FromResult<IResult>(Problems.Validation("lockName", "lockName must be a valid lock name."));
        }

        if (GatewayCalls.JsonBytes(body.Value) is not { } value)
        {
            return Task.FromResult<IResult>(Problems.Validation("value", "value is required (any JSON value)."));
        }

        return GatewayCalls.Execute(http, gateway, new FencedPutConfig(name, value, body.LockName!, body.Token), Written);
    }

    private static IResult Written(CommandResult r)
    {
        var put = (ConfigPut)r;
        return TypedResults.Ok(new ConfigWriteResponse(put.Name, put.Version, put.Revision));
    }

    private static Task<IResult>? Invalid(string name) => GatewayCalls.ValidName(name) ? null : Task.FromResult<IResult>(Problems.InvalidName(name));

    /// <summary>As <see cref="Invalid"/>, and refuses the service's own documents (<see cref="CoordinationApi.ReservedConfigPrefix"/>).</summary>
    private static Task<IResult>? InvalidForWrite(string name) =>
        Invalid(name) ?? (GatewayCalls.Reserved(name) ? Task.FromResult<IResult>(Problems.ReservedName(name)) : null);
}
