using System.CommandLine;
using Coordination.Cli.Commands;
using Coordination.Client;

namespace Coordination.Cli;

/// <summary>
/// The <c>coord</c> command tree. <see cref="Build"/> takes the client factory and the environment as
/// parameters so that tests run every command in-process against a fake cluster.
/// </summary>
public static class CoordCli
{
    public const string DefaultEndpoints = "http://127.0.0.1:5080";
    public const string EndpointsVariable = "COORD_ENDPOINTS";

    /// <summary>Builds the command tree.</summary>
    /// <param name="clientFactory">Makes the client for the parsed endpoints; a real HTTP client when null.</param>
    /// <param name="environment">Reads environment variables (<c>COORD_ENDPOINTS</c>); the process environment when null.</param>
    public static RootCommand Build(Func<IList<Uri>, CoordinationClient>? clientFactory = null, Func<string, string?>? environment = null)
    {
        var read = environment ?? Environment.GetEnvironmentVariable;
        var endpoints = new Option<string>("--endpoints")
        {
            Description = $"Comma-separated silo base URLs (env {EndpointsVariable}, default {DefaultEndpoints})",
            Recursive = true,
            DefaultValueFactory = _ => read(EndpointsVariable) is { Length: > 0 } fromEnvironment ? fromEnvironment : DefaultEndpoints,
        };
        var json = new Option<bool>("--json") { Description = "Write JSON (one document per line) instead of tables", Recursive = true };
        var cli = new CliRuntime(endpoints, json, clientFactory ?? DefaultClient);

        var root = new RootCommand("coord: operate a Coordination cluster (locks, elections, groups, config, sessions, transactions)");
        root.Options.Add(endpoints);
        root.Options.Add(json);
        root.Subcommands.Add(ClusterCommands.Build(cli));
        root.Subcommands.Add(SnapshotCommands.Build(cli));
        root.Subcommands.Add(LockCommands.Build(cli));
        root.Subcommands.Add(ElectionCommands.Build(cli));
        root.Subcommands.Add(MemberCommands.Build(cli));
        root.Subcommands.Add(ConfigCommands.Build(cli));
        root.Subcommands.Add(SessionCommands.Build(cli));
        root.Subcommands.Add(TransactionCommands.Build(cli));
        root.Subcommands.Add(DistributedTransactionCommands.Build(cli));
        return root;
    }

    private static CoordinationClient DefaultClient(IList<Uri> endpoints) =>
        new(new CoordinationClientOptions { Endpoints = endpoints, RetryAttemptsMax = 2 });
}
