using BenchmarkDotNet.Attributes;
using Coordination.Grains;

namespace Coordination.Benchmarks.Grains;

/// <summary>
/// Commands applied per second, per grain kind, on one state machine (decoding excluded; see
/// <see cref="Decode_and_apply_lock_acquire_release"/> for the codec's share). Each method applies
/// <see cref="Cycle"/> commands in steady state: acquire + release, join + leave, campaign +
/// resign, so the state neither grows nor drains between invocations.
/// Run: <c>dotnet run -c Release --project Coordination.Benchmarks -- --filter '*GrainApply*'</c>.
/// </summary>
[ShortRunJob]
[MemoryDiagnoser]
public class GrainApplyBenchmarks
{
    private const int Grains = 1_000;
    private const int Cycle = 2 * Grains;
    private const long NowMs = 1_700_000_000_000;

    private readonly string[] _names = [.. Enumerable.Range(0, Grains).Select(i => $"grain-{i:D5}")];
    private readonly byte[] _json = "{\"replicas\":3,\"zone\":\"eu-west-1a\"}"u8.ToArray();
    private ulong[] _sessions = [];
    private CoordinationStateMachine _machine = new();
    private ulong _index;

    [GlobalSetup]
    public void Setup()
    {
        _machine = new CoordinationStateMachine();
        _index = 0;
        _sessions = [.. Enumerable.Range(0, Grains).Select(_ => ((SessionCreated)Apply(new CreateSession(Limits.SessionTtlMsMax))).SessionId)];
    }

    // Log time moves 1 ms every 16 entries, so renewals really move deadlines, while the one-hour
    // sessions outlive any run (57 million entries).
    private long Time => NowMs + (long)(_index / 16);

    private CommandResult Apply(Command command)
    {
        ++_index;
        return _machine.Apply(_index, Time, command);
    }

    [Benchmark(OperationsPerInvoke = Cycle)]
    public void Session_renew()
    {
        for (var i = 0; i < Cycle; i++)
        {
            Apply(new RenewSession(_sessions[i % Grains]));
        }
    }

    [Benchmark(OperationsPerInvoke = Cycle)]
    public void Lock_acquire_release()
    {
        for (var i = 0; i < Grains; i++)
        {
            var token = ((LockGranted)Apply(new AcquireLock(_names[i], _sessions[i], LockMode.Exclusive))).Token;
            Apply(new ReleaseLock(_names[i], _sessions[i], token));
        }
    }

    [Benchmark(OperationsPerInvoke = Cycle)]
    public void Election_campaign_resign()
    {
        for (var i = 0; i < Grains; i++)
        {
            Apply(new Campaign(_names[i], _sessions[i], _json));
            Apply(new Resign(_names[i], _sessions[i]));
        }
    }

    [Benchmark(OperationsPerInvoke = Cycle)]
    public void Membership_join_leave()
    {
        for (var i = 0; i < Grains; i++)
        {
            Apply(new JoinGroup(_names[i], _sessions[i], "member-1", _json));
            Apply(new LeaveGroup(_names[i], "member-1"));
        }
    }

    [Benchmark(OperationsPerInvoke = Cycle)]
    public void Config_put()
    {
        for (var i = 0; i < Cycle; i++)
        {
            Apply(new PutConfig(_names[i % Grains], _json));
        }
    }

    [Benchmark(OperationsPerInvoke = Cycle)]
    public void Sequence_reserve()
    {
        for (var i = 0; i < Cycle; i++)
        {
            Apply(new ReserveSequence(_names[i % Grains]));
        }
    }

    [Benchmark(OperationsPerInvoke = Cycle)]
    public void Decode_and_apply_lock_acquire_release()
    {
        for (var i = 0; i < Grains; i++)
        {
            var acquire = CommandCodec.Encode(new AcquireLock(_names[i], _sessions[i], LockMode.Exclusive));
            var token = ((LockGranted)_machine.Apply(++_index, Time, acquire)).Token;
            _machine.Apply(++_index, Time, CommandCodec.Encode(new ReleaseLock(_names[i], _sessions[i], token)));
        }
    }
}
