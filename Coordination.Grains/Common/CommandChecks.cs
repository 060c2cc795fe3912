namespace Coordination.Grains;

/// <summary>
/// The checks of a command that need no state: the sizes and shapes of the values it carries. The
/// grains make them as they apply it; a gateway makes them first, with the same functions, so a
/// command the grains would refuse for its values never takes a log entry (nor a revision) and its
/// answer does not wait for a commit.
/// </summary>
public static class CommandChecks
{
    /// <summary>The refusal the grains would answer for the values of <paramref name="command"/>, or null.</summary>
    public static Rejected? OfValues(Command command) => command switch
    {
        PutConfig c => ConfigGrain.CheckValue(c.Value),
        FencedPutConfig c => ConfigGrain.CheckValue(c.Value),
        Campaign c => ElectionGrain.CheckValue(c.Value),
        Proclaim c => ElectionGrain.CheckValue(c.Value),
        JoinGroup c => MembershipGrain.CheckMetadata(c.Metadata),
        UpdateMember c => MembershipGrain.CheckMetadata(c.Metadata),
        AcquireLock c => LockGrain.CheckArguments(c),
        ApplyTransaction c => c.Operations.OfType<PutConfigOperation>().Select(p => ConfigGrain.CheckValue(p.Value)).FirstOrDefault(r => r is not null),
        _ => null,
    };
}
