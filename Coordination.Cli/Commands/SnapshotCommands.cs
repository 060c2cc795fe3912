using System.CommandLine;

namespace Coordination.Cli.Commands;

internal static class SnapshotCommands
{
    public static Command Build(CliRuntime cli)
    {
        var file = new Argument<FileInfo>("file") { Description = "Where to write the state" };
        var save = new Command("save", "Save the whole state (all grains) to a file; start a new cluster from it with the silo's --restore-from FILE") { file };
        save.SetAction(cli.Run(async run =>
        {
            var bytes = await run.Client.SaveSnapshotAsync(run.CancellationToken);
            var target = run.Parse.GetValue(file)!;
            await File.WriteAllBytesAsync(target.FullName, bytes, run.CancellationToken);
            run.Output.WriteLine($"saved {bytes.Length} bytes to {target.FullName}");
        }));
        return new Command("snapshot", "Backups of the whole state") { save };
    }
}
