using System.Globalization;

namespace Coordination.Silo;

/// <summary>
/// One silo of the cluster: its id and where it listens for clients and for peers, and optionally a
/// second client URL that speaks HTTP/2 without TLS (prior knowledge, "h2c"): the same API, but many
/// requests share one connection, which costs the silo and its clients far fewer system calls and
/// wake-ups per request than one HTTP/1.1 connection per concurrent request (docs/benchmarks.md).
/// </summary>
public sealed record SiloAddress(ulong Id, string ClientUrl, string PeerAddress, string? Http2Url = null);

/// <summary>
/// Configuration of a silo, bound from the "Coordination" section (appsettings, environment
/// variables <c>Coordination__NodeId</c>, command line <c>--node-id 2</c>). The defaults start a
/// single-silo cluster with its data in <c>./data</c>.
/// </summary>
public sealed class SiloOptions
{
    public const string Section = "Coordination";

    /// <summary>Command-line shorthands.</summary>
    public static readonly Dictionary<string, string> SwitchMappings = new()
    {
        ["--node-id"] = $"{Section}:NodeId",
        ["--data-dir"] = $"{Section}:DataDirectory",
        ["--members"] = $"{Section}:Members",
        ["--join"] = $"{Section}:Join",
        ["--tick-ms"] = $"{Section}:TickMs",
        ["--restore-from"] = $"{Section}:RestoreFrom",
    };

    public ulong NodeId { get; set; } = 1;

    /// <summary>
    /// Take the node id from the host name's ordinal suffix plus one (<c>coordination-0</c> is silo 1),
    /// as a Kubernetes StatefulSet names its pods. Overrides <see cref="NodeId"/>.
    /// </summary>
    public bool NodeIdFromHostname { get; set; }

    public string DataDirectory { get; set; } = "data";

    /// <summary>
    /// Every founding member as <c>id=host:clientPort:peerPort[:http2Port]</c>, comma-separated, e.g.
    /// <c>1=127.0.0.1:5081:6081,2=127.0.0.1:5082:6082,3=127.0.0.1:5083:6083</c>. The optional fourth
    /// port serves the same API over HTTP/2 without TLS (<see cref="SiloAddress.Http2Url"/>).
    /// </summary>
    public string Members { get; set; } = "1=127.0.0.1:5080:5090";

    /// <summary>Start with an empty log and wait to be added to an existing cluster (no bootstrap).</summary>
    public bool Join { get; set; }

    /// <summary>
    /// A state snapshot file (from <c>GET /v1/cluster/snapshot</c>) that a founding silo with an empty
    /// data directory starts from instead of an empty state. Ignored once the silo has a log.
    /// </summary>
    public string? RestoreFrom { get; set; }


    /// <summary>
    /// Raft tick length (a heartbeat every tick); the election timeout is ElectionTicks ticks,
    /// randomized up to twice that. 20 ms gives 200-400 ms elections and a failover under half a
    /// second on one machine or a LAN with local disks (docs/benchmarks.md); raise it where a sync
    /// or a round trip can take a good part of 200 ms (network disks, cross-zone links).
    /// </summary>
    public int TickMs { get; set; } = 20;

    /// <summary>
    /// The newest commands this silo proposes (<see cref="Coordination.Grains.CommandCodec.LevelOf"/>).
    /// Lower it on the upgraded silos while older ones still run (a rolling upgrade from a build that
    /// cannot decode them); raise it back, or drop the setting, once every silo runs this build.
    /// </summary>
    public int CommandLevel { get; set; } = Coordination.Grains.CommandCodec.LevelCurrent;

    /// <summary>How often this silo asks every other member which command level it decodes (<see cref="MemberSurvey"/>).</summary>
    public int CommandLevelPollMs { get; set; } = 5_000;

    public int ElectionTicks { get; set; } = 10;

    /// <summary>With <see cref="NodeIdFromHostname"/>, sets <see cref="NodeId"/> from <paramref name="hostName"/>'s ordinal.</summary>
    public SiloOptions ApplyHostname(string hostName)
    {
        if (NodeIdFromHostname)
        {
            var name = hostName.Split('.')[0];
            var dash = name.LastIndexOf('-');
            if (dash < 0 || !ulong.TryParse(name.AsSpan(dash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var ordinal) || ordinal == ulong.MaxValue)
            {
                throw new ArgumentException($"Coordination:NodeIdFromHostname is set but host name '{hostName}' does not end in -<ordinal>.");
            }

            NodeId = ordinal + 1;
        }

        return this;
    }

    public IReadOnlyList<SiloAddress> ParseMembers()
    {
        var members = new List<SiloAddress>();
        foreach (var item in Members.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var parts = item.Split('=', 2);
            var address = parts.Length == 2 ? parts[1].Split(':') : [];
            if (address.Length is not (3 or 4) || !ulong.TryParse(parts[0], CultureInfo.InvariantCulture, out var id) || id == 0
                || !IsPort(address[1], out var clientPort) || !IsPort(address[2], out var peerPort)
                || (address.Length == 4 && (!IsPort(address[3], out var http2Port) || http2Port == clientPort || http2Port == peerPort)))
            {
                throw new ArgumentException($"Coordination:Members item '{item}' is not id=host:clientPort:peerPort[:http2Port] (ports 1-65535, the HTTP/2 port a third one).");
            }

            members.Add(new SiloAddress(id, $"http://{address[0]}:{clientPort}", $"{address[0]}:{peerPort}", address.Length == 4 ? $"http://{address[0]}:{int.Parse(address[3], CultureInfo.InvariantCulture)}" : null));
        }

        if (members.Select(m => m.Id).Distinct().Count() != members.Count)
        {
            throw new ArgumentException("Coordination:Members names a silo id twice.");
        }

        return members;

        static bool IsPort(string text, out int port) =>
            int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out port) && port is > 0 and <= 65535;
    }

    public void Validate()
    {
        if (NodeId == 0)
        {
            throw new ArgumentException("Coordination:NodeId must not be 0.");
        }

        if (TickMs is < 1 or > 10_000 || ElectionTicks is < 2 or > 1_000)
        {
            throw new ArgumentException("Coordination:TickMs must be 1..10000 and ElectionTicks 2..1000.");
        }

        if (CommandLevel is < 1 or > Coordination.Grains.CommandCodec.LevelCurrent)
        {
            throw new ArgumentException($"Coordination:CommandLevel must be 1..{Coordination.Grains.CommandCodec.LevelCurrent}.");
        }

        if (CommandLevelPollMs is < 10 or > 600_000)
        {
            throw new ArgumentException("Coordination:CommandLevelPollMs must be 10..600000.");
        }

        if (!Join && ParseMembers().All(m => m.Id != NodeId))
        {
            throw new ArgumentException($"Coordination:Members does not name this silo ({NodeId}); add it or start with --join.");
        }
    }
}
