using System.Collections.Concurrent;
using System.Text.Json;
using Coordination.Grains;

namespace Coordination.Silo;

/// <summary>
/// The newest commands this silo proposes: the lowest command level (<see cref="CommandCodec.LevelOf"/>)
/// that every member of the cluster can decode, capped by <see cref="SiloOptions.CommandLevel"/>. A
/// silo that meets an entry it cannot decode stops, so during a rolling upgrade new commands must
/// wait until no older build runs; asking every member is what makes that automatic (an operator may
/// still cap it by hand). Each silo asks every other member's <c>GET /v1/cluster</c> for its
/// <c>decodeLevel</c> every <see cref="SiloOptions.CommandLevelPollMs"/>; a build from before the field
/// answers without it (level 1), and a member that never answered counts as level 1, so a member
/// that is down holds new commands back until it has been heard. A member's last answer is kept
/// through later failures: one that is down applies nothing, and what it finds in the log on its
/// return is there whatever this silo proposes now.
/// </summary>
public sealed class CommandLevels : BackgroundService
{
    /// <summary>The level assumed for a member that has not answered, or answered without one.</summary>
    public const int Unknown = 1;

    /// <summary>How long one member's answer may take.</summary>
    private static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(2);

    private readonly SiloRuntime _silo;
    private readonly Func<SiloAddress, CancellationToken, Task<int?>> _ask;
    private readonly TimeProvider _time;
    private readonly ILogger<CommandLevels> _logger;
    private readonly ConcurrentDictionary<ulong, int> _heard = new();
    private int _lastEffective;

    public CommandLevels(SiloRuntime silo, IHttpClientFactory http, TimeProvider time, ILogger<CommandLevels> logger)
        : this(silo, (member, token) => AskOverHttpAsync(http, member, token), time, logger)
    {
    }

    /// <param name="ask">Asks one member for the level it decodes: null when it did not answer, <see cref="Unknown"/> when it answered without one.</param>
    public CommandLevels(SiloRuntime silo, Func<SiloAddress, CancellationToken, Task<int?>> ask, TimeProvider time, ILogger<CommandLevels> logger)
    {
        _silo = silo;
        _ask = ask;
        _time = time;
        _logger = logger;
        _lastEffective = Effective;
    }

    public const string HttpClientName = "command-levels";

    /// <summary>How soon a member that has never answered is asked again.</summary>
    private static readonly TimeSpan UnheardRetry = TimeSpan.FromMilliseconds(200);

    private bool HeardFromAll => _silo.Host.Status.Membership.All.All(id => id == _silo.Options.NodeId || _heard.ContainsKey(id));

    /// <summary>The newest command level this silo proposes now.</summary>
    public int Effective
    {
        get
        {
            var level = _silo.Options.CommandLevel;
            foreach (var member in OtherMembers)
            {
                level = Math.Min(level, _heard.GetValueOrDefault(member, Unknown));
            }

            return level;
        }
    }

    private IEnumerable<ulong> OtherMembers => _silo.Host.Status.Membership.All.Where(id => id != _silo.Options.NodeId);

    /// <summary>Why a command of level <paramref name="needed"/> is held back: the members (or the setting) that keep the level lower.</summary>
    public string HeldBackBy(int needed)
    {
        var members = OtherMembers.Where(id => _heard.GetValueOrDefault(id, Unknown) < needed)
            .Select(id => _heard.TryGetValue(id, out var level) ? $"silo {id} decodes up to level {level}" : $"silo {id} has not been heard from since this silo started")
            .ToList();
        if (_silo.Options.CommandLevel < needed)
        {
            members.Add($"Coordination:CommandLevel is {_silo.Options.CommandLevel}");
        }

        return string.Join("; ", members);
    }

    /// <summary>Asks every other member once (concurrently) and records the answers.</summary>
    public async Task AskAllAsync(CancellationToken cancellation)
    {
        var members = OtherMembers.ToArray();
        await Task.WhenAll(members.Select(async id =>
        {
            if (_silo.AddressOf(id) is { } address && await AskAsync(address, cancellation) is { } level)
            {
                _heard[id] = level;
            }
        }));

        var effective = Effective;
        if (Interlocked.Exchange(ref _lastEffective, effective) != effective)
        {
            _logger.LogInformation("Silo {Node} now proposes commands up to level {Level} (this build decodes {Decoded}; members heard: {Heard})",
                _silo.Options.NodeId, effective, CommandCodec.LevelCurrent, string.Join(", ", _heard.OrderBy(h => h.Key).Select(h => $"{h.Key}: {h.Value}")));
        }
    }

    private async Task<int?> AskAsync(SiloAddress member, CancellationToken cancellation)
    {
        using var bounded = CancellationTokenSource.CreateLinkedTokenSource(cancellation);
        bounded.CancelAfter(AskTimeout);
        try
        {
            return await _ask(member, bounded.Token);
        }
        catch (Exception e) when (!cancellation.IsCancellationRequested)
        {
            // Unreachable, slow, or an answer that is not a silo's: not heard this time. Nothing a
            // member answers may stop this silo.
            _logger.LogDebug(e, "Silo {Member} did not say which commands it decodes", member.Id);
            return null;
        }
    }

    private static async Task<int?> AskOverHttpAsync(IHttpClientFactory http, SiloAddress member, CancellationToken cancellation)
    {
        using var client = http.CreateClient(HttpClientName);
        using var response = await client.GetAsync(new Uri(new Uri(member.ClientUrl), "/v1/cluster"), cancellation);
        if (!response.IsSuccessStatusCode)
        {
            return null;
        }

        using var body = await JsonDocument.ParseAsync(await response.Content.ReadAsStreamAsync(cancellation), cancellationToken: cancellation);
        return body.RootElement.TryGetProperty("decodeLevel", out var level) && level.TryGetInt32(out var value) && value >= Unknown ? value : Unknown;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var interval = TimeSpan.FromMilliseconds(_silo.Options.CommandLevelPollMs);
        while (!stoppingToken.IsCancellationRequested)
        {
            await AskAllAsync(stoppingToken);
            try
            {
                // Until every member has answered once (a cluster starting, a member just added),
                // new commands are held back: ask again soon.
                await Task.Delay(HeardFromAll ? interval : TimeSpan.FromTicks(Math.Min(interval.Ticks, UnheardRetry.Ticks)), _time, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }
}
