using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;

namespace Coordination.Tests.Faults;

/// <summary>The proxy in front of an added silo cuts links per sender, which it reads from the first frame.</summary>
public sealed class InboundProxyTests
{
    private static readonly TimeSpan WaitMax = TimeSpan.FromSeconds(10);

    // A frame's first bytes as silo `from` sends them: header (length, CRC32C), version, kind, from; then a body.
    private static byte[] FrameStart(ulong from, string body)
    {
        var bytes = new byte[18 + body.Length];
        bytes[8] = 1;
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(10), from);
        System.Text.Encoding.ASCII.GetBytes(body).CopyTo(bytes, 18);
        return bytes;
    }

    private static async Task<Socket> Connect(int port, byte[] first)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(IPAddress.Loopback, port);
        await socket.SendAsync(first, SocketFlags.None);
        return socket;
    }

    // Every connection the target accepts: the bytes it receives until the sender's bytes are all there.
    private static async Task Serve(TcpListener target, int length, ChannelWriter<byte[]> received, CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            var socket = await target.AcceptSocketAsync(stop);
            _ = Task.Run(async () =>
            {
                using (socket)
                {
                    var buffer = new byte[length];
                    var read = 0;
                    while (read < length)
                    {
                        var n = await socket.ReceiveAsync(buffer.AsMemory(read), SocketFlags.None, stop);
                        if (n == 0)
                        {
                            return;
                        }

                        read += n;
                    }

                    await received.WriteAsync(buffer, stop);
                }
            }, stop);
        }
    }

    private static async Task<bool> ClosedByPeer(Socket socket)
    {
        using var timeout = new CancellationTokenSource(WaitMax);
        try
        {
            return await socket.ReceiveAsync(new byte[16], SocketFlags.None, timeout.Token) == 0;
        }
        catch (SocketException)
        {
            return true;
        }
    }

    [Fact]
    public async Task A_blocked_sender_is_cut_while_another_sender_gets_through_and_unblocking_lets_it_reconnect()
    {
        var target = new TcpListener(IPAddress.Loopback, 0);
        target.Start();
        using var stop = new CancellationTokenSource(WaitMax * 3);
        var received = Channel.CreateUnbounded<byte[]>();
        var serving = Serve(target, FrameStart(1, "hello").Length, received.Writer, stop.Token);
        await using var proxy = new InboundProxy(((IPEndPoint)target.LocalEndpoint).Port);

        proxy.Block(1);
        using var blocked = await Connect(proxy.Port, FrameStart(1, "hello"));
        using var open = await Connect(proxy.Port, FrameStart(2, "hello"));
        Assert.Equal(FrameStart(2, "hello"), await received.Reader.ReadAsync(stop.Token));
        Assert.True(await ClosedByPeer(blocked));

        proxy.UnblockAll();
        using var again = await Connect(proxy.Port, FrameStart(1, "again"));
        Assert.Equal(FrameStart(1, "again"), await received.Reader.ReadAsync(stop.Token));
        Assert.False(received.Reader.TryRead(out _));

        // Blocking a sender closes its connection whether it is open already or its first frame is still being read.
        using var later = await Connect(proxy.Port, FrameStart(3, "x"));
        proxy.Block(3);
        Assert.True(await ClosedByPeer(later));

        await stop.CancelAsync();
        target.Stop();
        await Assert.ThrowsAnyAsync<Exception>(() => serving);
    }
}
