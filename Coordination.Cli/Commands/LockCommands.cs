using System.CommandLine;
using Coordination.Cli.Formatting;
using Coordination.Client;

namespace Coordination.Cli.Commands;

internal static class LockCommands
{
    public static Command Build(CliRuntime cli) => new("lock", "Locks with fencing tokens") { Acquire(cli), Release(cli), Abandon(cli), Inspect(cli) };

    private static Command Acquire(CliRuntime cli)
    {
        var name = Shared.Name("lock");
        var mode = new Option<LockMode>("--mode") { Description = "exclusive, shared or semaphore", DefaultValueFactory = _ => LockMode.Exclusive };
        var permits = new Option<int>("--permits") { Description = "Semaphore size", DefaultValueFactory = _ => 1 };
        var wait = Shared.Duration("--wait", "How long to wait for the lock (default 0: try once)");
        var maxHold = Shared.Duration("--max-hold", "Revoke the grant after this long");
        var session = new Option<long?>("--session") { Description = "Acquire for this existing session instead of a new one" };
        var ttl = Shared.Duration("--ttl", "TTL of the new session (default 30s); the lock lives until it expires unless released");
        var hold = new Option<bool>("--hold") { Description = "Keep the session alive and hold the lock until Ctrl+C, then release it" };
        var command = new Command("acquire", "Acquire a lock and print its fencing token") { name, mode, permits, wait, maxHold, session, ttl, hold };
        command.SetAction(cli.Run(async run =>
        {
            var existing = run.Get(session);
            var holding = run.Get(hold);
            var lifetime = run.Get(ttl) ?? TimeSpan.FromSeconds(30);
            var owner = existing is { } id
                ? run.Client.AttachSession(id, lifetime, keepAlive: holding)
                : await run.Client.CreateSessionAsync(lifetime, keepAlive: holding, run.CancellationToken);
            var lockName = run.Get(name);
            var waitFor = run.Get(wait) ?? TimeSpan.Zero;
            var handle = waitFor == TimeSpan.Zero
                ? await owner.TryAcquireLockAsync(lockName, run.Get(mode), run.Get(permits), run.Get(maxHold), cancellationToken: run.CancellationToken)
                    ?? throw new CoordinationException("lock-busy", 409, $"Lock '{lockName}' is busy.")
                : await owner.AcquireLockAsync(lockName, run.Get(mode), waitFor, run.Get(permits), run.Get(maxHold), cancellationToken: run.CancellationToken);
            var acquired = new LockAcquired(lockName, owner.Id, handle.Token, CoordinationClient.ModeText(handle.Mode), existing is null);
            run.Write(acquired, CliJsonContext.Default.LockAcquired, output =>
                output.WriteLine($"acquired {lockName}  token {handle.Token}  session {owner.Id}{(existing is null ? $" (new, ttl {Format.Duration((long)lifetime.TotalMilliseconds)})" : "")}"));
            if (holding)
            {
                await run.Output.FlushAsync();
                using var holdUntil = CancellationTokenSource.CreateLinkedTokenSource(run.CancellationToken, owner.SessionLost);
                try
                {
                    await Task.Delay(Timeout.Infinite, holdUntil.Token);
                }
                catch (OperationCanceledException)
                {
                    await handle.DisposeAsync();
                    await owner.DisposeAsync();
                }
            }
        }));
        return command;
    }

    private static Command Release(CliRuntime cli)
    {
        var name = Shared.Name("lock");
        var session = new Option<long>("--session") { Description = "The holding session", Required = true };
        var token = new Option<long>("--token") { Description = "The fencing token of the grant", Required = true };
        var command = new Command("release", "Release a lock held by a session") { name, session, token };
        command.SetAction(cli.Run(async run =>
        {
            var lockName = run.Get(name);
            var granted = await run.Client.ReleaseLockAsync(run.Get(session), lockName, run.Get(token), run.CancellationToken);
            var released = new LockReleasedOutput(lockName, run.Get(session), run.Get(token), granted);
            run.Write(released, CliJsonContext.Default.LockReleasedOutput, output =>
                output.WriteLine($"released {lockName}  token {released.Token}  waiters granted {granted}"));
        }));
        return command;
    }

    private static Command Abandon(CliRuntime cli)
    {
        var name = Shared.Name("lock");
        var session = new Option<long>("--session") { Description = "The session that gave up on an acquire", Required = true };
        var command = new Command("abandon", "Withdraw a session's wait for a lock, or release its hold without the token (after an acquire whose outcome is unknown); safe to repeat") { name, session };
        command.SetAction(cli.Run(async run =>
        {
            var abandoned = await run.Client.AbandonLockAsync(run.Get(session), run.Get(name), run.CancellationToken);
            run.Write(abandoned, CliJsonContext.Default.LockAbandonment, output =>
                output.WriteLine($"abandoned {abandoned.Name}  session {run.Get(session)}: {abandoned.Outcome}{(abandoned.Token is { } token ? $" (token {token})" : "")}  waiters granted {abandoned.WaitersGranted}"));
        }));
        return command;
    }

    private static Command Inspect(CliRuntime cli)
    {
        var name = Shared.Name("lock");
        var command = new Command("inspect", "Holders and waiters of a lock") { name };
        command.SetAction(cli.Run(async run =>
        {
            var info = await run.Client.InspectLockAsync(run.Get(name), run.CancellationToken);
            run.Write(info, CliJsonContext.Default.LockInfo, output =>
            {
                output.WriteLine($"{info.Name}  permits {info.Permits}  holders {info.Holders.Count}  waiters {info.Waiters.Count}");
                run.Table(
                    ["ROLE", "SESSION", "MODE", "TOKEN/QUEUED", "SINCE", "UNTIL"],
                    info.Holders.Select(h => (IReadOnlyList<string>)["holder", Format.Number(h.SessionId), h.Mode, Format.Number(h.Token), Format.Time(h.SinceMs), Format.Time(h.RevokeAtMs)])
                        .Concat(info.Waiters.Select(w => (IReadOnlyList<string>)["waiter", Format.Number(w.SessionId), w.Mode, Format.Number(w.QueuedRevision), Format.Time(w.QueuedAtMs), Format.Time(w.DeadlineMs)])));
            });
        }));
        return command;
    }
}
