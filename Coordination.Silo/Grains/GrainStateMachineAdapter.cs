using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Coordination.Api;
using Coordination.Grains;
using Coordination.Silo.Hosting;

namespace Coordination.Silo.Grains;

/// <summary>The state machine's answer to one applied request, handed to the waiting gateway call.</summary>
public sealed record AppliedRequest(CommandResult Result, ulong Revision);

/// <summary>
/// Hosts the grains (<see cref="CoordinationStateMachine"/>) on the replicated log and adds what the
/// service needs around them: replicated idempotency keys, so a request retried after a failover is
/// answered with its first result instead of applying twice (the key table is part of the
/// replicated state and of snapshots), and the leader's duties (extend sessions on takeover, expire
/// what is due). Called only from the <see cref="RaftHost"/> loop.
/// </summary>
public sealed class GrainStateMachineAdapter : IReplicatedStateMachine
{
    /// <summary>Idempotency keys remembered; the oldest is forgotten first (in log order, on every replica alike).</summary>
    public const int IdempotencyKeysMax = 65_536;

    private static readonly Dictionary<string, Type> ResultTypes = typeof(CommandResult).Assembly.GetTypes()
        .Where(t => t.IsSubclassOf(typeof(CommandResult)) && !t.IsAbstract)
        .ToDictionary(t => t.Name, StringComparer.Ordinal);

    /// <summary>
    /// How a remembered result is written into snapshots: by its own type at the top, as before, and a
    /// result held inside another (a transaction's per-operation results, declared as the abstract
    /// <see cref="CommandResult"/>) with its type's name beside it. Without that, reflection wrote each
    /// inner result as <c>{}</c> and no snapshot holding a transaction's result could be read back.
    /// </summary>
    private static readonly JsonSerializerOptions ResultJson = new()
    {
        TypeInfoResolver = new DefaultJsonTypeInfoResolver { Modifiers = { NameResultTypes } },
    };

    private static void NameResultTypes(JsonTypeInfo info)
    {
        if (info.Type != typeof(CommandResult))
        {
            return;
        }

        info.PolymorphismOptions = new JsonPolymorphismOptions { TypeDiscriminatorPropertyName = "$result" };
        foreach (var (name, type) in ResultTypes.OrderBy(t => t.Key, StringComparer.Ordinal))
        {
            info.PolymorphismOptions.DerivedTypes.Add(new JsonDerivedType(type, name));
        }
    }

    /// <summary>
    /// The reserved config document that holds every silo's addresses (JSON), replicated like any
    /// other write so a silo added at run time becomes reachable from every silo.
    /// </summary>
    public const string AddressBookName = Api.CoordinationApi.ReservedConfigPrefix + "members";

    /// <summary>
    /// The reserved config document in which the leader records the command level each silo decodes
    /// (<see cref="MemberSurvey"/>), so a silo that restarts while a member is down still knows it.
    /// </summary>
    public const string DecodeLevelsName = Api.CoordinationApi.ReservedConfigPrefix + "decode-levels";

    private ulong _addressBookRevision;
    private ulong _decodeLevelsRevision;
    private byte[]? _decodeLevels;

    /// <summary>The JSON of <see cref="DecodeLevelsName"/> as last applied, or null; read from any thread.</summary>
    public byte[]? DecodeLevels => Volatile.Read(ref _decodeLevels);

    /// <summary>Raised on the loop thread with the address book's JSON whenever an applied entry changed it.</summary>
    public event Action<byte[]>? AddressBookChanged;

    private readonly Dictionary<string, (ulong Hash, CommandResult Result, ulong Revision)> _keys = new(StringComparer.Ordinal);
    private readonly Queue<string> _keyOrder = new();
    private ulong _applied;

    public CoordinationStateMachine Grains { get; private set; } = new();

    /// <summary>Per-grain wake-ups for waiters (lock acquirers, named watches), fired as entries apply.</summary>
    public GrainSignals Signals { get; } = new();

    public ulong AppliedIndex => Volatile.Read(ref _applied);

    public long LogTimeMs => Grains.LogTimeMs;

    public int IdempotencyKeys => _keys.Count;

    /// <summary>Raised on the loop thread when an applied entry began a distributed transaction, so the leader's coordinator starts on it at once.</summary>
    public event Action? DistributedTransactionBegun;

    public object? Apply(ulong index, long timestampMs, ReadOnlyMemory<byte> payload)
    {
        var applied = ApplyRequest(index, timestampMs, payload);
        if (Grains.AppliedIndex == index)
        {
            // A retried request answered from its idempotency key does not reach the grains: the
            // grains' newest entry is then an older one, whose events were already announced.
            if (Grains.EventsOfLastEntryDropped)
            {
                // Too many events to keep (a mass expiry): every waiter reads, and finds "compacted".
                Signals.NotifyAll();
            }
            else
            {
                Signals.NotifyEntry(Grains, static (grains, keep) => grains.ForEachEventOfLastEntry(keep));
            }
        }

        NoticeAddressBook();
        if (applied.Result is DistributedTransactionResult { Transaction.State: DistributedTransactionState.Preparing })
        {
            DistributedTransactionBegun?.Invoke();
        }

        return applied;
    }

    private void NoticeAddressBook()
    {
        if (Grains.GetConfig(AddressBookName) is { } book && book.Revision != _addressBookRevision)
        {
            _addressBookRevision = book.Revision;
            AddressBookChanged?.Invoke(book.Value);
        }

        if (Grains.GetConfig(DecodeLevelsName) is { } levels && levels.Revision != _decodeLevelsRevision)
        {
            _decodeLevelsRevision = levels.Revision;
            Volatile.Write(ref _decodeLevels, levels.Value);
        }
    }

    private AppliedRequest ApplyRequest(ulong index, long timestampMs, ReadOnlyMemory<byte> payload)
    {
        Volatile.Write(ref _applied, index);
        var (key, command) = RequestEnvelope.Decode(payload);
        if (key.Length == 0)
        {
            return new AppliedRequest(Grains.Apply(index, timestampMs, command.Span), index);
        }

        var hash = Fnv1a(command.Span);
        if (_keys.TryGetValue(key, out var first))
        {
            return first.Hash == hash ? new AppliedRequest(first.Result, first.Revision) : new AppliedRequest(new IdempotencyKeyReused(key), index);
        }

        var result = Grains.Apply(index, timestampMs, command.Span);
        Remember(key, hash, result, index);
        return new AppliedRequest(result, index);
    }

    public void Skip(ulong index) => Volatile.Write(ref _applied, index);

    /// <summary>Before a restored state's first snapshot is written: see <see cref="CoordinationStateMachine.SkipRevisions"/>.</summary>
    public void SkipRevisions(ulong revisions)
    {
        Grains.SkipRevisions(revisions);
        Volatile.Write(ref _applied, Grains.AppliedIndex);
    }

    /// <summary>
    /// The newest command level this silo may propose (<see cref="MemberSurvey"/> sets it: during a
    /// rolling upgrade, the lowest level every member decodes). Until it does, level 1: a leader
    /// elected before the survey exists must not propose what an older member cannot decode.
    /// </summary>
    public Func<int> ProposableLevel { get; set; } = static () => MemberSurvey.Unknown;

    /// <summary>How far this silo's clock is ahead of the others' (<see cref="MemberSurvey.ClockAheadOfOthers"/>); null while unknown.</summary>
    public Func<TimeSpan?> ClockAhead { get; set; } = static () => null;

    /// <summary>
    /// Extends the sessions by the time without a leader plus how far this silo's clock is ahead of
    /// the others' (the jump its stamps make in log time): <see cref="ExtendSessionsBy"/>. Before every
    /// member decodes that, or while either time is unknown, each gets a whole TTL (<see cref="ExtendAllSessions"/>).
    /// </summary>
    public IEnumerable<byte[]> OnBecameLeader(TimeSpan? leaderless)
    {
        Command extend = leaderless is { } gap && ClockAhead() is { } ahead && ProposableLevel() >= CommandCodec.LevelOf(new ExtendSessionsBy(0))
            ? new ExtendSessionsBy((long)Math.Ceiling((gap + ahead).TotalMilliseconds))
            : new ExtendAllSessions();
        return [RequestEnvelope.Encode(null, CommandCodec.Encode(extend))];
    }

    public IEnumerable<byte[]> DueCommands(long nowMs) =>
        Grains.NextDeadlineMs is { } due && due <= nowMs ? [RequestEnvelope.Encode(null, CommandCodec.Encode(new AdvanceTime()))] : [];

    private void Remember(string key, ulong hash, CommandResult result, ulong revision)
    {
        if (_keyOrder.Count >= IdempotencyKeysMax)
        {
            _keys.Remove(_keyOrder.Dequeue());
        }

        _keys[key] = (hash, result, revision);
        _keyOrder.Enqueue(key);
    }

    /// <summary>
    /// The Raft snapshot: <see cref="SavedStateFormat.WithoutChecksum"/> (magic, applied index) around
    /// the grains snapshot (length-prefixed), key count, then per key in age order: key, hash,
    /// revision, result type, result JSON. Exports seal it (<see cref="SavedStateFormat.Seal(ReadOnlyMemory{byte})"/>).
    /// </summary>
    public byte[] WriteSnapshot()
    {
        using var stream = new MemoryStream();
        using var writer = new BinaryWriter(stream, Encoding.UTF8);
        var grains = Grains.WriteSnapshot();
        writer.Write(grains.Length);
        writer.Write(grains);
        writer.Write(_keyOrder.Count);
        foreach (var key in _keyOrder)
        {
            var (hash, result, revision) = _keys[key];
            writer.Write(key);
            writer.Write(hash);
            writer.Write(revision);
            writer.Write(result.GetType().Name);
            writer.Write(JsonSerializer.Serialize(result, result.GetType(), ResultJson));
        }

        writer.Flush();
        return SavedStateFormat.WithoutChecksum(AppliedIndex, stream.GetBuffer().AsSpan(0, (int)stream.Length));
    }

    public void RestoreSnapshot(ulong index, ReadOnlySpan<byte> snapshot)
    {
        var bytes = snapshot.ToArray();
        var (applied, body) = SavedStateFormat.Open(bytes);
        if (applied != index)
        {
            throw new InvalidDataException($"a snapshot of index {applied} offered as index {index}");
        }

        using var stream = SavedStateFormat.BodyStream(bytes, body);
        using var reader = new BinaryReader(stream, Encoding.UTF8);
        var grains = CoordinationStateMachine.ReadSnapshot(reader.ReadBytes(reader.ReadInt32()));
        var count = reader.ReadInt32();
        if (count is < 0 or > IdempotencyKeysMax)
        {
            throw new InvalidDataException($"a snapshot with {count} idempotency keys");
        }

        // Read whole before anything changes: a snapshot that fails half-way leaves the state as it was.
        var keys = new List<(string Key, ulong Hash, CommandResult Result, ulong Revision)>(count);
        for (var i = 0; i < count; i++)
        {
            var key = reader.ReadString();
            var hash = reader.ReadUInt64();
            var revision = reader.ReadUInt64();
            var type = ResultTypes.GetValueOrDefault(reader.ReadString()) ?? throw new InvalidDataException("a snapshot with an idempotency key of an unknown result type");
            keys.Add((key, hash, ReadResult(key, type, reader.ReadString()), revision));
        }

        _keys.Clear();
        _keyOrder.Clear();
        foreach (var (key, hash, result, revision) in keys)
        {
            Remember(key, hash, result, revision);
        }

        Grains = grains;
        Volatile.Write(ref _applied, index);
        (_addressBookRevision, _decodeLevelsRevision) = (0, 0);
        NoticeAddressBook();
        Signals.NotifyAll();
    }

    private static CommandResult ReadResult(string key, Type type, string json)
    {
        try
        {
            return (CommandResult)JsonSerializer.Deserialize(json, type, ResultJson)!;
        }
        catch (Exception e) when (e is JsonException or NotSupportedException)
        {
            // Builds before 2026-11-22 wrote a transaction's inner results as {}: such a snapshot
            // cannot say what the request answered, so it is refused by name rather than guessed.
            throw new InvalidDataException($"a snapshot whose answer to idempotency key '{key}' ({type.Name}) cannot be read: {e.Message}", e);
        }
    }

    private static ulong Fnv1a(ReadOnlySpan<byte> bytes)
    {
        var hash = 14695981039346656037UL;
        foreach (var b in bytes)
        {
            hash = (hash ^ b) * 1099511628211UL;
        }

        return hash;
    }
}
