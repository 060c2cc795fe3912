using System.CommandLine;
using CoordinationStateMachine = Coordination.Grains.CoordinationStateMachine;
using CorruptDataException = Coordination.Grains.CorruptDataException;
using SavedStateFormat = Coordination.Grains.SavedStateFormat;

namespace Coordination.Cli.Commands;

internal static class SnapshotCommands
{
    /// <summary>The file a silo with an empty log bootstraps from (Coordination.Silo's <c>StateSnapshots.StagedRestoreFileName</c>).</summary>
    public const string StagedRestoreFileName = "restore-state.bin";

    public static Command Build(CliRuntime cli)
    {
        var file = new Argument<FileInfo>("file") { Description = "Where to write the state" };
        var save = new Command("save", "Save the whole state (all grains) to a file; start a new cluster from it with `coord snapshot restore` or the silo's --restore-from FILE") { file };
        save.SetAction(cli.Run(async run =>
        {
            var bytes = await run.Client.SaveSnapshotAsync(run.CancellationToken);
            var target = run.Parse.GetValue(file)!;
            await File.WriteAllBytesAsync(target.FullName, bytes, run.CancellationToken);
            run.Output.WriteLine($"saved {bytes.Length} bytes to {target.FullName}");
        }));

        var source = new Argument<FileInfo>("file") { Description = "A state saved by `coord snapshot save` (or a backup blob downloaded to a file)" };
        var dataDir = new Option<DirectoryInfo>("--data-dir") { Description = "The new silo's data directory: empty or absent", Required = true };
        var restore = new Command("restore", "Check a saved state and stage it in a new silo's empty data directory; the silo starts from it. Run it for every founding silo of the new cluster, with the same file") { source, dataDir };
        restore.SetAction(async (parse, cancellation) =>
        {
            var error = parse.InvocationConfiguration.Error;
            var from = parse.GetValue(source)!;
            var directory = parse.GetValue(dataDir)!;
            if (!from.Exists)
            {
                await error.WriteLineAsync($"coord: {from.FullName} does not exist");
                return ExitCodes.Usage;
            }

            var bytes = await File.ReadAllBytesAsync(from.FullName, cancellation);
            if (Check(bytes) is { } problem)
            {
                await error.WriteLineAsync($"coord: {from.FullName} is not a saved state: {problem}");
                return ExitCodes.Usage;
            }

            if (directory.Exists && directory.EnumerateFileSystemInfos().Any(f => f.Name != StagedRestoreFileName))
            {
                await error.WriteLineAsync($"coord: {directory.FullName} is not empty; a restore starts a new silo from nothing (stop the silo and use a new directory)");
                return ExitCodes.Usage;
            }

            directory.Create();
            var staged = Path.Combine(directory.FullName, StagedRestoreFileName);
            var temporary = staged + ".tmp";
            await using (var stream = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None))
            {
                await stream.WriteAsync(bytes, cancellation);
                stream.Flush(flushToDisk: true);
            }

            File.Move(temporary, staged, overwrite: true);
            parse.InvocationConfiguration.Output.WriteLine($"staged the state at index {BitConverter.ToUInt64(bytes, 4)} in {directory.FullName}; start the silo with --data-dir {directory.FullName} (every founding silo needs the same file)");
            return ExitCodes.Ok;
        });
        return new Command("snapshot", "Backups of the whole state") { save, restore };
    }

    /// <summary>Why <paramref name="bytes"/> is not a whole-state snapshot a silo can start from, or null.</summary>
    internal static string? Check(byte[] bytes)
    {
        try
        {
            // The silo's whole-state snapshot: grains and idempotency keys in a checksummed envelope.
            var (applied, body) = SavedStateFormat.Open(bytes);
            using var reader = new BinaryReader(SavedStateFormat.BodyStream(bytes, body));
            var length = reader.ReadInt32();
            if (applied == 0 || length < 0 || length > body.Length - sizeof(int))
            {
                return "bad header";
            }

            var grains = CoordinationStateMachine.ReadSnapshot(reader.ReadBytes(length));
            return grains.AppliedIndex == applied ? null : $"the grains are at index {grains.AppliedIndex}, the header says {applied}";
        }
        catch (Exception e) when (e is CorruptDataException or EndOfStreamException)
        {
            return e.Message;
        }
    }
}
