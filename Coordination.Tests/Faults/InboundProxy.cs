using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace Coordination.Tests.Faults;

/// <summary>
/// A TCP proxy in front of one silo's peer port that every other silo dials: a silo added while
/// the cluster runs is known by one address, the one the replicated address book gives everyone
/// (Coordination.Silo/Operations/MembershipEndpoints.cs), so one proxy per directed link cannot be
/// named in each sender's members list. Instead the proxy reads the sender from the first frame of
/// each connection (silos send only their own messages on their own outbound connections, and
/// every frame's payload starts with version, kind and the sender's id: Transport/MessageCodec.cs)
/// and blocks per sender. Listens on 127.0.0.1 only.
/// </summary>
public sealed class InboundProxy : IAsyncDisposable
{
    // Frame header (length, CRC32C), then version (u8), kind (u8), from (u64 little-endian).
    private const int SenderOffset = 10;
    private const int PrefixBytes = SenderOffset + sizeof(ulong);
    private static readonly TimeSpan PrefixWaitMax = TimeSpan.FromSeconds(2);

    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly int _targetPort;
    private readonly CancellationTokenSource _stopping = new();
    private readonly ConcurrentDictionary<Socket, (Socket Outbound, ulong From)> _open = new();
    private readonly ConcurrentDictionary<ulong, bool> _blocked = new();
    private readonly Task _accepting;

    public InboundProxy(int targetPort)
    {
        _targetPort = targetPort;
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _accepting = AcceptLoop();
    }

    public int Port { get; }

    public bool IsBlocked(ulong from) => _blocked.ContainsKey(from);

    /// <summary>Cuts the link from <paramref name="from"/>: open connections close, new ones are closed at once.</summary>
    public void Block(ulong from)
    {
        _blocked[from] = true;
        foreach (var (inbound, (outbound, sender)) in _open)
        {
            if (sender == from)
            {
                inbound.Dispose();
                outbound.Dispose();
            }
        }
    }

    public void UnblockAll() => _blocked.Clear();

    private async Task AcceptLoop()
    {
        while (!_stopping.IsCancellationRequested)
        {
            Socket inbound;
            try
            {
                inbound = await _listener.AcceptSocketAsync(_stopping.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            _ = Pump(inbound);
        }
    }

    private async Task Pump(Socket inbound)
    {
        var outbound = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
            timeout.CancelAfter(PrefixWaitMax);
            var prefix = new byte[PrefixBytes];
            for (var read = 0; read < PrefixBytes;)
            {
                var n = await inbound.ReceiveAsync(prefix.AsMemory(read), SocketFlags.None, timeout.Token);
                if (n == 0)
                {
                    return;
                }

                read += n;
            }

            var from = BinaryPrimitives.ReadUInt64LittleEndian(prefix.AsSpan(SenderOffset));
            if (IsBlocked(from))
            {
                return;
            }

            await outbound.ConnectAsync(IPAddress.Loopback, _targetPort, timeout.Token);
            _open[inbound] = (outbound, from);
            if (IsBlocked(from))
            {
                return;
            }

            await outbound.SendAsync(prefix, SocketFlags.None, _stopping.Token);
            await Task.WhenAny(Copy(inbound, outbound, from), Copy(outbound, inbound, from));
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException or IOException)
        {
        }
        finally
        {
            _open.TryRemove(inbound, out _);
            inbound.Dispose();
            outbound.Dispose();
        }
    }

    private Task Copy(Socket from, Socket to, ulong sender) => ProxyPump.CopyAsync(from, to, () => IsBlocked(sender), _stopping.Token);

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync();
        _listener.Stop();
        foreach (var (inbound, (outbound, _)) in _open)
        {
            inbound.Dispose();
            outbound.Dispose();
        }

        await _accepting;
        _stopping.Dispose();
    }
}
