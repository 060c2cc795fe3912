using System.Collections.Concurrent;
using System.Text.Json;
using Coordination.Grains;

namespace Coordination.Silo;

/// <summary>What one member said: the newest command level it decodes, and its clock (Unix ms) if it said.</summary>
public readonly record struct MemberAnswer(int DecodeLevel, long? ClockMs);

/// <summary>
/// Asks every other member's <c>GET /v1/cluster</c>, every <see cref="SiloOptions.CommandLevelPollMs"/>,
/// which commands it decodes and what its clock reads.
/// <para>
/// <b>Command level.</b> The newest commands this silo proposes: the lowest command level
/// (<see cref="CommandCodec.LevelOf"/>) that every member of the cluster can decode, capped by
/// <see cref="SiloOptions.CommandLevel"/>. A silo that meets an entry it cannot decode stops, so during
/// a rolling upgrade new commands must wait until no older build runs; asking every member is what
/// makes that automatic (an operator may still cap it by hand). A build from before the
/// <c>decodeLevel</c> field answers without it (level 1), and a member that never answered counts as
/// level 1, so a member that is down holds new commands back until it has been heard. A member's last
/// answer is kept through later failures: one that is down applies nothing, and what it finds in the
/// log on its return is there whatever this silo proposes now.
/// </para>
/// <para>
/// <b>Clock skew.</b> Log time comes from the leader's clock, so a member whose clock is far ahead of
/// the others' moves it ahead when it leads (docs/grains.md, "Time and expiry"). The answer's clock,
/// against the middle of the request on this silo's clock, gives each member's skew
/// (<c>coordination_member_clock_skew_seconds</c>); one beyond <see cref="SkewWarning"/> is logged as
/// a warning, at most every few minutes per member.
/// </para>
/// </summary>
public sealed class MemberSurvey : BackgroundService
{
    /// <summary>The level assumed for a member that has not answered, or answered without one.</summary>
    public const int Unknown = 1;

    /// <summary>How long one member's answer may take.</summary>
    private static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(2);

    private readonly SiloRuntime _silo;
    private readonly Func<SiloAddress, CancellationToken, Task<MemberAnswer?>> _ask;
    private readonly TimeProvider _time;
    private readonly ILogger<MemberSurvey> _logger;
    private readonly ConcurrentDictionary<ulong, int> _heard = new();
    private int _lastEffective;

    public MemberSurvey(SiloRuntime silo, IHttpClientFactory http, TimeProvider time, ILogger<MemberSurvey> logger)
        : this(silo, (member, token) => AskOverHttpAsync(http, member, token), time, logger)
    {
    }

    /// <param name="ask">Asks one member: null when it did not answer; a level of <see cref="Unknown"/> when it answered without one.</param>
    public MemberSurvey(SiloRuntime silo, Func<SiloAddress, CancellationToken, Task<MemberAnswer?>> ask, TimeProvider time, ILogger<MemberSurvey> logger)
    {
        _silo = silo;
        _ask = ask;
        _time = time;
        _logger = logger;
        _lastEffective = Effective;
    }

    public const string HttpClientName = "member-survey";

    /// <summary>A member's clock this far from this silo's is logged as a warning.</summary>
    public static readonly TimeSpan SkewWarning = TimeSpan.FromSeconds(1);

    private static readonly TimeSpan SkewWarningEvery = TimeSpan.FromMinutes(5);

    private readonly ConcurrentDictionary<ulong, long> _skewsMs = new();
    private readonly ConcurrentDictionary<ulong, long> _skewWarnedAt = new();

    /// <summary>A clock this far off is not a clock (an answer that is not a silo's): ignored.</summary>
    private static readonly TimeSpan ImplausibleSkew = TimeSpan.FromDays(36_500);

    /// <summary>Each current member's clock minus this silo's, in ms, as last measured (members that said).</summary>
    public IReadOnlyDictionary<ulong, long> ClockSkewsMs
    {
        get
        {
            var members = OtherMembers.ToHashSet();
            return _skewsMs.Where(s => members.Contains(s.Key)).ToDictionary(s => s.Key, s => s.Value);
        }
    }

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
            if (_silo.AddressOf(id) is not { } address)
            {
                return;
            }

            // Raw wall clocks on both sides (ClusterView.ClockMs is one too): the entry stamps of
            // every silo are pulled up to the newest stamp applied, so they would hide a fast clock.
            var sent = _time.GetUtcNow().ToUnixTimeMilliseconds();
            if (await AskAsync(address, cancellation) is not { } answer)
            {
                return;
            }

            _heard[id] = answer.DecodeLevel;
            var middle = (sent + _time.GetUtcNow().ToUnixTimeMilliseconds()) / 2;
            if (answer.ClockMs is { } clock && Math.Abs((double)clock - middle) < ImplausibleSkew.TotalMilliseconds)
            {
                NoteSkew(id, clock - middle);
            }
        }));

        var effective = Effective;
        if (Interlocked.Exchange(ref _lastEffective, effective) != effective)
        {
            _logger.LogInformation("Silo {Node} now proposes commands up to level {Level} (this build decodes {Decoded}; members heard: {Heard})",
                _silo.Options.NodeId, effective, CommandCodec.LevelCurrent, string.Join(", ", _heard.OrderBy(h => h.Key).Select(h => $"{h.Key}: {h.Value}")));
        }
    }

    private void NoteSkew(ulong member, long skewMs)
    {
        _skewsMs[member] = skewMs;
        var now = _time.GetTimestamp();
        if (Math.Abs(skewMs) > SkewWarning.TotalMilliseconds
            && (!_skewWarnedAt.TryGetValue(member, out var warned) || _time.GetElapsedTime(warned, now) > SkewWarningEvery))
        {
            _skewWarnedAt[member] = now;
            _logger.LogWarning("Silo {Member}'s clock is {Skew} ms from silo {Node}'s: log time jumps by as much when leadership moves between them (docs/grains.md, \"Time and expiry\"); synchronize the clocks",
                member, skewMs, _silo.Options.NodeId);
        }
    }

    private async Task<MemberAnswer?> AskAsync(SiloAddress member, CancellationToken cancellation)
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

    private static async Task<MemberAnswer?> AskOverHttpAsync(IHttpClientFactory http, SiloAddress member, CancellationToken cancellation)
    {
        using var client = http.CreateClient(HttpClientName);
        using var response = await client.GetAsync(new Uri(new Uri(member.ClientUrl), "/v1/cluster"), cancellation);
        if (!response.IsSuccessStatusCode)
        {
            return null;
        }

        using var body = await JsonDocument.ParseAsync(await response.Content.ReadAsStreamAsync(cancellation), cancellationToken: cancellation);
        var root = body.RootElement;
        var level = root.TryGetProperty("decodeLevel", out var levelText) && levelText.TryGetInt32(out var value) && value >= Unknown ? value : Unknown;
        long? clock = root.TryGetProperty("clockMs", out var clockText) && clockText.TryGetInt64(out var ms) ? ms : null;
        return new MemberAnswer(level, clock);
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
