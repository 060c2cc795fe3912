using Coordination.Tests.Linearizability.Models;
using FsCheck;
using FsCheck.Fluent;

namespace Coordination.Tests.Linearizability;

/// <summary>
/// The checker against histories built from a sequential execution: each operation gets a
/// linearization point (10 time units apart) and an invoke and completion around it, so
/// operations overlap but the execution order is always a valid linearization. Such histories
/// must be accepted, also with some outcomes made unknown or failed-without-effect. One output
/// changed to a value the execution could not produce must be rejected: always when operations
/// do not overlap, and in most histories when they do (an overlap can legitimately explain some
/// changes, e.g. a read that could have run before the write it saw).
/// </summary>
public class CheckerPropertyTests
{
    /// <summary>One random step: <see cref="Kind"/> picks the operation; <see cref="Before"/> and <see cref="After"/> widen it around its point.</summary>
    public sealed record Step(int Kind, int X, int Before, int After, int Fate);

    private static readonly Gen<Step> StepGen =
        from kind in Gen.Choose(0, 2)
        from x in Gen.Choose(0, 3)
        from before in Gen.Choose(0, 25)
        from after in Gen.Choose(0, 25)
        from fate in Gen.Choose(0, 9)
        select new Step(kind, x, before, after, fate);

    private static readonly Arbitrary<Step[]> Steps = Arb.From(Gen.ListOf(StepGen).Select(s => s.ToArray()));

    private static readonly Arbitrary<(Step[] Steps, int Victim)> StepsAndVictim = Arb.From(
        from steps in Gen.NonEmptyListOf(StepGen)
        from victim in Gen.Choose(0, 10_000)
        select (steps.ToArray(), victim));

    /// <summary>How to time the operations and whether some outcomes are lost.</summary>
    private enum Shape
    {
        Sequential,
        Overlapping,
        OverlappingWithUnknownAndFailed,
    }

    // --- config documents: put / compare-and-set / get ---

    private static List<Operation<ConfigInput, ConfigOutput>> ConfigHistory(Step[] steps, Shape shape)
    {
        var version = 0L;
        string? value = null;
        var history = new List<Operation<ConfigInput, ConfigOutput>>();
        for (var i = 0; i < steps.Length; i++)
        {
            var s = steps[i];
            var input = s.Kind switch
            {
                0 => new ConfigInput("doc", ConfigOp.Put, $"v{i}"),
                1 => new ConfigInput("doc", ConfigOp.CompareAndSet, $"v{i}", Math.Max(0, version + s.X - 2)),
                _ => new ConfigInput("doc", ConfigOp.Get),
            };
            if (shape == Shape.OverlappingWithUnknownAndFailed && s.Fate == 0 && input.Op != ConfigOp.Get)
            {
                history.Add(Operation<ConfigInput, ConfigOutput>.Fail(i, input, 10 * i - s.Before, 10 * i + s.After)); // never applied
                continue;
            }

            ConfigOutput output;
            if (input.Op == ConfigOp.Get)
            {
                output = ConfigOutput.Read(version, value);
            }
            else if (input.Op == ConfigOp.Put || input.ExpectedVersion == version)
            {
                (version, value) = (version + 1, input.Value);
                output = ConfigOutput.Written(version);
            }
            else
            {
                output = ConfigOutput.Mismatch;
            }

            history.Add(Timed(i, input, output, s, shape));
        }

        return history;
    }

    private static ConfigOutput MutateConfig(ConfigOutput output) => output.Result switch
    {
        ConfigResult.Written => ConfigOutput.Written(output.Version + 1),
        ConfigResult.Mismatch => ConfigOutput.Written(1_000),
        _ => ConfigOutput.Read(output.Version + 1, output.Value),
    };

    // --- locks: acquire / release / read, tokens with gaps like log indexes ---

    private static List<Operation<LockInput, LockOutput>> LockHistory(Step[] steps, Shape shape)
    {
        long holder = 0, token = 0, index = 0;
        var history = new List<Operation<LockInput, LockOutput>>();
        for (var i = 0; i < steps.Length; i++)
        {
            var s = steps[i];
            var session = 1 + (s.X % 3);
            index += 1 + s.X;
            var input = s.Kind switch
            {
                0 => new LockInput("l", LockOp.Acquire, session),
                1 => new LockInput("l", LockOp.Release, session, session == holder && s.X != 3 ? token : token + 1),
                _ => new LockInput("l", LockOp.Read, 0),
            };
            LockOutput output;
            switch (input.Op)
            {
                case LockOp.Acquire when holder == 0:
                    (holder, token) = (session, index);
                    output = LockOutput.Granted(token);
                    break;
                case LockOp.Acquire:
                    output = LockOutput.Busy;
                    break;
                case LockOp.Release when holder == session && input.Token == token:
                    holder = 0;
                    output = LockOutput.Released;
                    break;
                case LockOp.Release:
                    output = LockOutput.NotHolder;
                    break;
                default:
                    output = LockOutput.Read(holder, holder == 0 ? 0 : token);
                    break;
            }

            history.Add(Timed(i, input, output, s, shape));
        }

        return history;
    }

    private static LockOutput MutateLock(LockOutput output) => output.Result switch
    {
        LockResult.Granted => LockOutput.Busy,
        LockResult.Busy => LockOutput.Granted(1_000_000),
        LockResult.Released => LockOutput.NotHolder,
        LockResult.NotHolder => LockOutput.Released,
        _ => output.Holder == 0 ? LockOutput.Read(1, 1_000_000) : LockOutput.Read(output.Holder, output.Token + 1),
    };

    private static Operation<TIn, TOut> Timed<TIn, TOut>(int i, TIn input, TOut output, Step s, Shape shape)
        where TOut : class
    {
        if (shape == Shape.Sequential)
        {
            return Operation<TIn, TOut>.Ok(i, input, output, 10 * i, 10 * i + 1);
        }

        return shape == Shape.OverlappingWithUnknownAndFailed && s.Fate == 1
            ? Operation<TIn, TOut>.Unknown(i, input, 10 * i - s.Before)
            : Operation<TIn, TOut>.Ok(i, input, output, 10 * i - s.Before, 10 * i + s.After);
    }

    private static List<Operation<TIn, TOut>> MutateOne<TIn, TOut>(List<Operation<TIn, TOut>> history, int victim, Func<TOut, TOut> mutate)
        where TOut : class
    {
        var copy = history.ToList();
        var i = victim % copy.Count;
        copy[i] = copy[i] with { Output = mutate(copy[i].Output!) };
        return copy;
    }

    private static void AcceptedInEveryShape<TState, TIn, TOut>(IModel<TState, TIn, TOut> model, Func<Step[], Shape, List<Operation<TIn, TOut>>> history)
        where TState : notnull
        where TOut : class =>
        Prop.ForAll(Steps, steps =>
        {
            foreach (var shape in Enum.GetValues<Shape>())
            {
                Assert.Equal(Verdict.Linearizable, LinearizabilityChecker.Check(model, history(steps, shape)).Verdict);
            }
        }).QuickCheckThrowOnFailure();

    [Fact]
    public void Config_histories_of_a_sequential_execution_are_linearizable() => AcceptedInEveryShape(ConfigModel.Instance, ConfigHistory);

    [Fact]
    public void Lock_histories_of_a_sequential_execution_are_linearizable() => AcceptedInEveryShape(LockModel.Instance, LockHistory);

    [Fact]
    public void Config_sequential_history_with_one_result_changed_is_rejected() =>
        Prop.ForAll(StepsAndVictim, t =>
            Assert.Equal(Verdict.NotLinearizable, LinearizabilityChecker.Check(ConfigModel.Instance,
                MutateOne(ConfigHistory(t.Steps, Shape.Sequential), t.Victim, MutateConfig)).Verdict)).QuickCheckThrowOnFailure();

    [Fact]
    public void Lock_sequential_history_with_one_result_changed_is_rejected() =>
        Prop.ForAll(StepsAndVictim, t =>
            Assert.Equal(Verdict.NotLinearizable, LinearizabilityChecker.Check(LockModel.Instance,
                MutateOne(LockHistory(t.Steps, Shape.Sequential), t.Victim, MutateLock)).Verdict)).QuickCheckThrowOnFailure();

    [Fact]
    public void Overlapping_histories_with_one_result_changed_are_mostly_rejected()
    {
        // A fixed seed, so the count is the same on every run; the bound says "most".
        const int HistoriesMax = 300;
        var random = new Random(20261121);
        var (config, locks) = (0, 0);
        for (var n = 0; n < HistoriesMax; n++)
        {
            var steps = Enumerable.Range(0, random.Next(5, 30))
                .Select(_ => new Step(random.Next(3), random.Next(4), random.Next(26), random.Next(26), 9)).ToArray();
            var victim = random.Next(steps.Length);
            config += LinearizabilityChecker.Check(ConfigModel.Instance, MutateOne(ConfigHistory(steps, Shape.Overlapping), victim, MutateConfig)).Verdict == Verdict.NotLinearizable ? 1 : 0;
            locks += LinearizabilityChecker.Check(LockModel.Instance, MutateOne(LockHistory(steps, Shape.Overlapping), victim, MutateLock)).Verdict == Verdict.NotLinearizable ? 1 : 0;
        }

        Assert.True(config >= HistoriesMax * 7 / 10, $"config: {config} of {HistoriesMax} mutated histories rejected");
        Assert.True(locks >= HistoriesMax * 7 / 10, $"lock: {locks} of {HistoriesMax} mutated histories rejected");
    }
}
