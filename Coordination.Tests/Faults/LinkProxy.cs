using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace Coordination.Tests.Faults;

/// <summary>
/// A TCP proxy for one directed link between silos: silo A's members list names this proxy as
/// B's peer address, so everything A sends to B passes here. Silos send Raft messages only on
/// their own outbound connections (replies travel on the replier's connection,
/// Coordination.Silo/Transport/PeerTransport.cs), so blocking the A→B proxy cuts A→B alone: two
/// proxies make a two-way partition, one a one-way partition. Blocking closes every open
/// connection and closes new ones at once; unblocking lets the sender's reconnect through.
/// Listens on 127.0.0.1 only.
/// </summary>
public sealed class LinkProxy : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly int _targetPort;
    private readonly CancellationTokenSource _stopping = new();
    private readonly ConcurrentDictionary<Socket, Socket> _open = new();
    private readonly Task _accepting;
    private volatile bool _blocked;

    public LinkProxy(int targetPort)
    {
        _targetPort = targetPort;
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _accepting = AcceptLoop();
    }

    public int Port { get; }

    public bool Blocked => _blocked;

    public void Block()
    {
        _blocked = true;
        foreach (var (inbound, outbound) in _open)
        {
            inbound.Dispose();
            outbound.Dispose();
        }
    }

    public void Unblock() => _blocked = false;

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

            if (_blocked)
            {
                inbound.Dispose();
                continue;
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
            timeout.CancelAfter(TimeSpan.FromSeconds(1));
            await outbound.ConnectAsync(IPAddress.Loopback, _targetPort, timeout.Token);
            _open[inbound] = outbound;
            if (_blocked)
            {
                return;
            }

            await Task.WhenAny(Copy(inbound, outbound), Copy(outbound, inbound));
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

    private Task Copy(Socket from, Socket to) => ProxyPump.CopyAsync(from, to, () => _blocked, _stopping.Token);

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync();
        _listener.Stop();
        Block();
        await _accepting;
        _stopping.Dispose();
    }
}
