using System.Collections.Concurrent;
using System.Text.Json;
using Coordination.Grains;
using Coordination.Silo.Grains;

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
/// <c>decodeLevel</c> field answers without it (level 1). The leader records what it knows of every
/// member in a replicated document (<see cref="GrainStateMachineAdapter.DecodeLevelsName"/>), so a
/// silo that restarts while a member is down still knows that member's level; a member neither heard
/// nor recorded counts as level 1. A member's last answer is kept through later failures: one that is
/// down applies nothing, and what it finds in the log on its return is there whatever this silo
/// proposes now.
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
    internal MemberSurvey(SiloRuntime silo, Func<SiloAddress, CancellationToken, Task<MemberAnswer?>> ask, TimeProvider time, ILogger<MemberSurvey> logger)
    {
        _silo = silo;
        _ask = ask;
        _time = time;
        _logger = logger;
        _lastEffective = Effective;
        // The leader's own commands (the session extension of a new leader) follow the same level,
        // and that extension makes up for how far this silo's clock is ahead of the others'.
        silo.State.ProposableLevel = () => Effective;
        silo.State.ClockAhead = () => ClockAheadOfOthers;
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
    /// <summary>
    /// How far this silo's clock is ahead of the member whose clock is furthest behind (zero when
    /// none is behind); null while some member's clock has not been measured. A leader stamps log
    /// time from its own clock, so when it takes over from a silo whose clock is behind, log time
    /// jumps by as much, and every session's deadline comes that much sooner.
    /// </summary>
    public TimeSpan? ClockAheadOfOthers
    {
        get
        {
            long aheadMs = 0;
            foreach (var member in OtherMembers)
            {
                if (!_skewsMs.TryGetValue(member, out var skewMs))
                {
                    return null;
                }

                aheadMs = Math.Max(aheadMs, -skewMs);
            }

            return TimeSpan.FromMilliseconds(aheadMs);
        }
    }

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

    private bool HeardFromAll => OtherMembers.All(_heard.ContainsKey);

    /// <summary>The newest command level this silo proposes now.</summary>
    public int Effective
    {
        get
        {
            var level = _silo.Options.CommandLevel;
            var recorded = Recorded();
            foreach (var member in OtherMembers)
            {
                level = Math.Min(level, LevelOf(member, recorded));
            }

            return level;
        }
    }

    /// <summary>What this silo knows a member decodes: its own answer since this silo started, else the leader's record, else <see cref="Unknown"/>.</summary>
    private int LevelOf(ulong member, IReadOnlyDictionary<ulong, int> recorded) =>
        _heard.TryGetValue(member, out var heard) ? heard : recorded.GetValueOrDefault(member, Unknown);

    /// <summary>The record's JSON and what it says, replaced whole (request threads and the poll read it).</summary>
    private sealed record RecordedLevels(byte[]? Json, IReadOnlyDictionary<ulong, int> Levels);

    private RecordedLevels _recorded = new(null, new Dictionary<ulong, int>());

    /// <summary>The levels recorded in <see cref="GrainStateMachineAdapter.DecodeLevelsName"/> (parsed once per version).</summary>
    private IReadOnlyDictionary<ulong, int> Recorded()
    {
        var json = _silo.State.DecodeLevels;
        var cached = Volatile.Read(ref _recorded);
        if (ReferenceEquals(json, cached.Json))
        {
            return cached.Levels;
        }

        var levels = new Dictionary<ulong, int>();
        try
        {
            using var document = JsonDocument.Parse(json ?? "{}"u8.ToArray());
            if (document.RootElement.TryGetProperty("levels", out var entries) && entries.ValueKind == JsonValueKind.Object)
            {
                foreach (var entry in entries.EnumerateObject())
                {
                    if (ulong.TryParse(entry.Name, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var id) && entry.Value.TryGetInt32(out var level) && level >= Unknown)
                    {
                        levels[id] = level;
                    }
                }
            }
        }
        catch (JsonException)
        {
            // Not readable: nothing recorded.
        }

        Volatile.Write(ref _recorded, new RecordedLevels(json, levels));
        return levels;
    }

    /// <summary>
    /// On the leader: writes what this silo knows of every member's level (its own build's, the
    /// answers, and earlier records of members not heard from) when it differs from the record.
    /// </summary>
    private async Task RecordAsync(CancellationToken cancellation)
    {
        if (_silo.Host.Status.Role != Consensus.RaftRole.Leader)
        {
            return;
        }

        var recorded = Recorded();
        var known = new SortedDictionary<ulong, int> { [_silo.Options.NodeId] = CommandCodec.LevelCurrent };
        foreach (var member in OtherMembers)
        {
            if (_heard.TryGetValue(member, out var heard) || recorded.TryGetValue(member, out heard))
            {
                known[member] = heard;
            }
        }

        if (known.Count == recorded.Count && known.All(k => recorded.TryGetValue(k.Key, out var level) && level == k.Value))
        {
            return;
        }

        var json = JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, Dictionary<string, int>>
        {
            ["levels"] = known.ToDictionary(k => k.Key.ToString(System.Globalization.CultureInfo.InvariantCulture), k => k.Value),
        });
        try
        {
            var command = CommandCodec.Encode(new PutConfig(GrainStateMachineAdapter.DecodeLevelsName, json));
            await _silo.Host.ProposeAsync(RequestEnvelope.Encode(null, command), cancellation);
        }
        catch (Exception e) when (!cancellation.IsCancellationRequested)
        {
            // Lost leadership, or no quorum: the next leader records it.
            _logger.LogDebug(e, "Recording the members' command levels did not commit");
        }
    }

    private IEnumerable<ulong> OtherMembers => _silo.Host.Status.Membership.All.Where(id => id != _silo.Options.NodeId);

    /// <summary>Why a command of level <paramref name="needed"/> is held back: the members (or the setting) that keep the level lower.</summary>
    public string HeldBackBy(int needed)
    {
        var recorded = Recorded();
        var members = OtherMembers.Where(id => LevelOf(id, recorded) < needed)
            .Select(id => _heard.TryGetValue(id, out var level) || recorded.TryGetValue(id, out level)
                ? $"silo {id} decodes up to level {level}"
                : $"silo {id} has not been heard from (nor recorded by a leader)")
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

        await RecordAsync(cancellation);
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
            try
            {
                await AskAllAsync(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }

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
