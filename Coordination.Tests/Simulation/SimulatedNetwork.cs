using Coordination.Consensus;

namespace Coordination.Tests.Simulation;

/// <summary>
/// A network in virtual time that drops, duplicates, delays and so reorders messages, and blocks
/// directed links to form partitions of any shape. Every choice comes from the run's one random source.
/// </summary>
public sealed class SimulatedNetwork(SplitMixRandom random)
{
    private readonly PriorityQueue<Message, (long At, long Sequence)> _inFlight = new();
    private readonly HashSet<(ulong From, ulong To)> _blocked = [];
    private long _sequence;

    public double DropRate { get; set; }

    public double DuplicateRate { get; set; }

    public int DelayTicksMax { get; set; }

    public long MessagesSent { get; private set; }

    public long MessagesDelivered { get; private set; }

    public int InFlight => _inFlight.Count;

    public void Send(Message message, long now)
    {
        MessagesSent++;
        if (random.Chance(DropRate))
        {
            return;
        }

        Enqueue(message, now + 1 + random.Next(0, DelayTicksMax + 1));
        if (random.Chance(DuplicateRate))
        {
            Enqueue(message, now + 1 + random.Next(0, DelayTicksMax + 1));
        }
    }

    /// <summary>Puts a message back to be delivered at <paramref name="at"/> (a paused receiver's socket buffer).</summary>
    public void Enqueue(Message message, long at) => _inFlight.Enqueue(message, (at, _sequence++));

    /// <summary>Removes and returns the next message due by <paramref name="now"/>; messages on a blocked link are lost.</summary>
    public bool TryTakeDue(long now, out Message message)
    {
        while (_inFlight.TryPeek(out message!, out var priority) && priority.At <= now)
        {
            _inFlight.Dequeue();
            if (!_blocked.Contains((message.From, message.To)))
            {
                MessagesDelivered++;
                return true;
            }
        }

        message = null!;
        return false;
    }

    public void Block(ulong from, ulong to) => _blocked.Add((from, to));

    public void BlockBoth(ulong a, ulong b)
    {
        Block(a, b);
        Block(b, a);
    }

    /// <summary>Splits the nodes into two sides that cannot talk to each other.</summary>
    public void Split(IEnumerable<ulong> side, IEnumerable<ulong> all)
    {
        var inside = side.ToHashSet();
        var everyone = all.ToArray();
        foreach (var a in everyone)
        {
            foreach (var b in everyone)
            {
                if (inside.Contains(a) != inside.Contains(b))
                {
                    Block(a, b);
                }
            }
        }
    }

    public void HealAll() => _blocked.Clear();
}
