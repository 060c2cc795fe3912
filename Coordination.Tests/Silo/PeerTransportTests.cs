using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using Coordination.Consensus;
using Coordination.Silo.Transport;
using Microsoft.Extensions.Logging.Abstractions;

namespace Coordination.Tests.Silo;

/// <summary>
/// The transport between silos on real loopback sockets: messages sent back to back arrive once each
/// in the order sent, and a connection that breaks under a sender is re-established (bounded in time).
/// </summary>
public sealed class PeerTransportTests
{
    private static readonly TimeSpan WaitMax = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task Messages_sent_back_to_back_arrive_once_each_in_the_order_sent()
    {
        var received = new ConcurrentQueue<ulong>();
        await using var receiver = new PeerTransport(2, m => received.Enqueue(m.Term), new PeerTransportOptions(), NullLogger.Instance);
        receiver.Listen(new IPEndPoint(IPAddress.Loopback, 0));
        await using var sender = new PeerTransport(1, _ => { }, new PeerTransportOptions(), NullLogger.Instance);
        sender.SetPeer(2, $"127.0.0.1:{receiver.ListenEndpoint!.Port}");
        await SendUntilReceivedAsync(sender, received, term: 1);

        // Back to back from one thread, as the Raft loop sends: the writer loop drains them in batches.
        const int Count = 10_000; // below SendQueueMessagesMax: none may be dropped
        for (ulong term = 2; term < 2 + Count; term++)
        {
            sender.Send(Heartbeat(term));
        }

        var deadline = Stopwatch.StartNew();
        while (received.Count(t => t >= 2) < Count && deadline.Elapsed < WaitMax)
        {
            await Task.Delay(10);
        }

        var terms = received.Where(t => t >= 2).ToArray();
        Assert.Equal(0, sender.DroppedMessages);
        Assert.Equal(Enumerable.Range(2, Count).Select(t => (ulong)t), terms);
    }

    [Fact]
    public async Task A_peer_that_goes_away_and_comes_back_on_its_port_is_reached_again()
    {
        var received = new ConcurrentQueue<ulong>();
        var first = new PeerTransport(2, m => received.Enqueue(m.Term), new PeerTransportOptions(), NullLogger.Instance);
        first.Listen(new IPEndPoint(IPAddress.Loopback, 0));
        var port = first.ListenEndpoint!.Port;
        await using var sender = new PeerTransport(1, _ => { }, new PeerTransportOptions { ReconnectDelayMax = TimeSpan.FromMilliseconds(100) }, NullLogger.Instance);
        sender.SetPeer(2, $"127.0.0.1:{port}");
        await SendUntilReceivedAsync(sender, received, term: 1);

        await first.DisposeAsync();
        var again = new ConcurrentQueue<ulong>();
        await using var second = new PeerTransport(2, m => again.Enqueue(m.Term), new PeerTransportOptions(), NullLogger.Instance);
        second.Listen(new IPEndPoint(IPAddress.Loopback, port));

        // Sends on the dead connection fail (or vanish into it); the sender must notice and reconnect.
        await SendUntilReceivedAsync(sender, again, term: 2);
        Assert.Contains(2UL, again);
    }

    private static Message Heartbeat(ulong term) => new() { Kind = MessageKind.Heartbeat, From = 1, To = 2, Term = term };

    private static async Task SendUntilReceivedAsync(PeerTransport sender, ConcurrentQueue<ulong> received, ulong term)
    {
        var deadline = Stopwatch.StartNew();
        while (!received.Contains(term))
        {
            Assert.True(deadline.Elapsed < WaitMax, $"message {term} not received within {WaitMax}");
            sender.Send(Heartbeat(term));
            await Task.Delay(20);
        }
    }
}
