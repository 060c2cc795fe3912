using Coordination.Consensus;
using Coordination.Silo.Storage;
using Coordination.Tests.WalWriter;

// Usage: Coordination.Tests.WalWriter <directory> <seed>
// Appends to the log in <directory> until killed (or OperationsMax), printing each operation before
// it starts and "ok" after it returned. Now and then it overwrites a suffix with a higher term, as a
// follower does when its log conflicts with a new leader's, and compacts.
const int OperationsMax = 1_000_000;
var random = new Random(int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture));
using var log = WriteAheadLog.Open(new PhysicalFileSystem(), args[0], CrashWorkload.Options);
var output = Console.Out;
for (var operation = 0; operation < OperationsMax; operation++)
{
    string line;
    var roll = random.Next(100);
    if (roll < 3 && log.LastIndex > log.FirstIndex + 10)
    {
        var index = log.LastIndex - (ulong)random.Next(1, 10);
        line = CrashWorkload.Compact(index, log.Term(index));
    }
    else
    {
        var term = Math.Max(log.HardState.Term, 1) + (roll < 8 ? 1ul : 0ul);
        var back = roll < 8 ? (ulong)random.Next(0, 5) : 0;
        var first = Math.Max(log.FirstIndex, log.LastIndex + 1 - Math.Min(back, log.LastIndex));
        var state = new HardState(term, (ulong)random.Next(0, 4), Math.Min(log.HardState.Commit + 1, first - 1));
        line = CrashWorkload.Save(state, first, random.Next(1, 64), term, random.Next(0, 300));
    }

    output.WriteLine(line);
    output.Flush();
    CrashWorkload.Parse(line)(log);
    output.WriteLine(CrashWorkload.Done);
    output.Flush();
}
