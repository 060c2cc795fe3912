using Coordination.Consensus;

namespace Coordination.Tests.Consensus;

/// <summary>
/// Drives single <see cref="RaftNode"/>s by hand: the test plays the host (persist, collect messages,
/// apply) and the network (which message reaches whom), so each test can check exact outgoing messages.
/// </summary>
internal sealed class RaftHarness
{
    public RaftHarness(ulong id, Membership? bootstrap = null, Func<RaftOptions, RaftOptions>? configure = null, ulong seed = 7)
    {
        Storage = new MemoryLogStorage();
        if (bootstrap is not null)
        {
            RaftNode.Bootstrap(Storage, bootstrap);
        }

        var options = new RaftOptions { NodeId = id, ElectionTicks = 10, HeartbeatTicks = 1 };
        Options = configure?.Invoke(options) ?? options;
        Node = new RaftNode(Options, Storage, new SplitMixRandom(seed));
    }

    public MemoryLogStorage Storage { get; }

    public RaftOptions Options { get; }

    public RaftNode Node { get; private set; }

    public ulong Id => Node.Id;

    public List<LogEntry> Applied { get; } = [];

    public List<ReadState> Reads { get; } = [];

    /// <summary>Processes every pending Ready as a correct host would and returns the messages to send.</summary>
    public List<Message> Drain()
    {
        var messages = new List<Message>();
        for (var round = 0; round < 100 && Node.HasReady; round++)
        {
            var ready = Node.GetReady();
            if (ready.Snapshot is { } snapshot)
            {
                Storage.InstallSnapshot(snapshot);
            }

            Storage.Save(ready.HardState, ready.Entries);
            messages.AddRange(ready.Messages);
            Applied.AddRange(ready.CommittedEntries);
            Reads.AddRange(ready.ReadStates);
            Node.Advance(ready);
        }

        // A correct node runs out of work: a host loops while HasReady.
        Assert.False(Node.HasReady, $"node {Id} still has a Ready after 100 rounds");
        return messages;
    }

    /// <summary>Ticks until the node has sent a message of <paramref name="kind"/>, bounded by <paramref name="ticksMax"/>.</summary>
    public List<Message> TickUntil(MessageKind kind, int ticksMax = 100)
    {
        for (var tick = 0; tick < ticksMax; tick++)
        {
            Node.Tick();
            var messages = Drain();
            if (messages.Any(m => m.Kind == kind))
            {
                return messages;
            }
        }

        throw new InvalidOperationException($"node {Id} sent no {kind} within {ticksMax} ticks");
    }

    /// <summary>Steps a message and returns what the node sends in response.</summary>
    public List<Message> Receive(Message message)
    {
        Node.Step(message);
        return Drain();
    }

    /// <summary>Simulates a crash and restart: everything not in storage is lost.</summary>
    public void Restart() => Node = new RaftNode(Options, Storage, new SplitMixRandom(99));

    public static Membership Voters(params ulong[] ids) => new(ids, []);
}

/// <summary>A few nodes wired together by a perfect network the test controls message by message.</summary>
internal sealed class RaftGroup
{
    private readonly Queue<Message> _network = new();

    public RaftGroup(int voters, int learners = 0, Func<RaftOptions, RaftOptions>? configure = null)
    {
        var membership = new Membership(Enumerable.Range(1, voters).Select(i => (ulong)i), Enumerable.Range(voters + 1, learners).Select(i => (ulong)i));
        foreach (var id in membership.All)
        {
            Nodes[id] = new RaftHarness(id, membership, configure, seed: id);
        }
    }

    public SortedDictionary<ulong, RaftHarness> Nodes { get; } = [];

    /// <summary>Links that drop every message.</summary>
    public HashSet<(ulong From, ulong To)> Cut { get; } = [];

    /// <summary>Called with every message delivered by <see cref="Settle"/>.</summary>
    public Action<Message>? Delivered { get; set; }

    public RaftHarness this[ulong id] => Nodes[id];

    public void Isolate(ulong id)
    {
        foreach (var other in Nodes.Keys.Where(o => o != id))
        {
            Cut.Add((id, other));
            Cut.Add((other, id));
        }
    }

    public void HealAll() => Cut.Clear();

    /// <summary>Delivers messages until the network is quiet (bounded).</summary>
    public void Settle(int messagesMax = 100_000)
    {
        foreach (var node in Nodes.Values)
        {
            node.Drain().ForEach(_network.Enqueue);
        }

        for (var delivered = 0; delivered < messagesMax && _network.Count > 0; delivered++)
        {
            var message = _network.Dequeue();
            if (Cut.Contains((message.From, message.To)) || !Nodes.TryGetValue(message.To, out var to))
            {
                continue;
            }

            Delivered?.Invoke(message);
            to.Receive(message).ForEach(_network.Enqueue);
        }

        Assert.True(_network.Count == 0, "the network did not settle");
    }

    /// <summary>Makes <paramref name="id"/> leader through a real election.</summary>
    public RaftHarness Elect(ulong id)
    {
        Nodes[id].Node.Campaign();
        Settle();
        Assert.Equal(RaftRole.Leader, Nodes[id].Node.Role);
        return Nodes[id];
    }

    /// <summary>Ticks every node once and settles the network.</summary>
    public void TickAll(int ticks = 1)
    {
        for (var i = 0; i < ticks; i++)
        {
            foreach (var node in Nodes.Values)
            {
                node.Node.Tick();
            }

            Settle();
        }
    }

    public byte[] Data(string text) => System.Text.Encoding.UTF8.GetBytes(text);
}
