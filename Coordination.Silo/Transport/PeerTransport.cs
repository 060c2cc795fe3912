using System.Collections.Concurrent;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;
using Coordination.Consensus;
using Microsoft.Extensions.Logging;

namespace Coordination.Silo.Transport;

/// <summary>Limits and timings of the transport between silos.</summary>
public sealed record PeerTransportOptions
{
    /// <summary>Messages queued for one peer; beyond it new messages are dropped (Raft tolerates loss) and counted.</summary>
    public int SendQueueMessagesMax { get; init; } = 16_384;

    public TimeSpan ReconnectDelayMin { get; init; } = TimeSpan.FromMilliseconds(20);

    public TimeSpan ReconnectDelayMax { get; init; } = TimeSpan.FromSeconds(1);

    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(1);
}

/// <summary>
/// Raft messages between silos over TCP: one persistent outbound connection per peer (a writer loop
/// draining a bounded queue, reconnecting with jittered exponential backoff) and a listener whose
/// inbound connections are read with System.IO.Pipelines. Messages are one-way; replies travel on the
/// replier's own outbound connection. Received messages go to <c>deliver</c>, from the reader's thread.
/// </summary>
public sealed class PeerTransport : IAsyncDisposable
{
    private readonly ulong _self;
    private readonly Action<Message> _deliver;
    private readonly PeerTransportOptions _options;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();
    private readonly ConcurrentDictionary<ulong, Peer> _peers = new();
    private readonly ConcurrentDictionary<Socket, Task> _inbound = new();
    private TcpListener? _listener;
    private Task? _acceptLoop;
    private long _dropped;
    private int _disposed;

    public PeerTransport(ulong self, Action<Message> deliver, PeerTransportOptions options, ILogger logger)
    {
        _self = self;
        _deliver = deliver;
        _options = options;
        _logger = logger;
    }

    /// <summary>Messages dropped because a peer's send queue was full or its address unknown.</summary>
    public long DroppedMessages => Interlocked.Read(ref _dropped);

    /// <summary>The address the listener is bound to (useful with port 0).</summary>
    public IPEndPoint? ListenEndpoint => _listener?.LocalEndpoint as IPEndPoint;

    public void Listen(IPEndPoint endpoint)
    {
        _listener = new TcpListener(endpoint);
        _listener.Start();
        _acceptLoop = AcceptLoop(_listener, _stopping.Token);
    }

    /// <summary>Sets or changes where a peer listens; a changed address reconnects.</summary>
    public void SetPeer(ulong id, string hostAndPort)
    {
        if (id == _self)
        {
            return;
        }

        var existing = _peers.GetOrAdd(id, _ => new Peer(id, hostAndPort, this));
        existing.Address = hostAndPort;
    }

    public IReadOnlyDictionary<ulong, string> Peers => _peers.ToDictionary(p => p.Key, p => p.Value.Address);

    /// <summary>Queues a message for its peer; never blocks.</summary>
    public void Send(Message message)
    {
        if (!_peers.TryGetValue(message.To, out var peer) || !peer.Queue.Writer.TryWrite(message))
        {
            Interlocked.Increment(ref _dropped);
        }
    }

    private async Task AcceptLoop(TcpListener listener, CancellationToken stopping)
    {
        while (!stopping.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await listener.AcceptSocketAsync(stopping);
            }
            catch (Exception) when (stopping.IsCancellationRequested)
            {
                return;
            }
            catch (SocketException e)
            {
                _logger.LogWarning(e, "Accepting a peer connection failed");
                continue;
            }

            socket.NoDelay = true;
            _inbound[socket] = ReadLoop(socket, stopping);
        }
    }

    private async Task ReadLoop(Socket socket, CancellationToken stopping)
    {
        await using var stream = new NetworkStream(socket, ownsSocket: true);
        var reader = PipeReader.Create(stream);
        try
        {
            while (!stopping.IsCancellationRequested)
            {
                var result = await reader.ReadAsync(stopping);
                var buffer = result.Buffer;
                while (MessageCodec.TryReadFrame(ref buffer, out var message))
                {
                    _deliver(message);
                }

                reader.AdvanceTo(buffer.Start, buffer.End);
                if (result.IsCompleted)
                {
                    return;
                }
            }
        }
        catch (ProtocolException e)
        {
            // A peer that breaks the protocol is cut off; it reconnects and starts clean.
            _logger.LogWarning("Dropped a peer connection from {Remote}: {Reason}", socket.RemoteEndPoint, e.Message);
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException)
        {
            // The peer went away or we are stopping.
        }
        finally
        {
            await reader.CompleteAsync();
            _inbound.TryRemove(socket, out _);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        await _stopping.CancelAsync();
        _listener?.Stop();
        foreach (var socket in _inbound.Keys)
        {
            socket.Dispose();
        }

        var tasks = _peers.Values.Select(p => p.Stop()).Concat(_inbound.Values).ToList();
        if (_acceptLoop is not null)
        {
            tasks.Add(_acceptLoop);
        }

        await Task.WhenAll(tasks.Select(t => t.ContinueWith(_ => { }, TaskScheduler.Default)));
    }

    /// <summary>One outbound connection: a bounded queue and the loop that writes it to the socket.</summary>
    private sealed class Peer
    {
        private readonly PeerTransport _transport;
        private readonly Task _loop;
        private volatile string _address;
        private Socket? _socket;

        public Peer(ulong id, string address, PeerTransport transport)
        {
            Id = id;
            _address = address;
            _transport = transport;
            Queue = Channel.CreateBounded<Message>(new BoundedChannelOptions(transport._options.SendQueueMessagesMax)
            {
                SingleReader = true,
                FullMode = BoundedChannelFullMode.DropWrite,
            }, _ => Interlocked.Increment(ref transport._dropped));
            _loop = Task.Run(() => WriteLoop(transport._stopping.Token));
        }

        public ulong Id { get; }

        public Channel<Message> Queue { get; }

        public string Address
        {
            get => _address;
            set
            {
                if (_address != value)
                {
                    _address = value;
                    _socket?.Dispose();
                }
            }
        }

        public Task Stop()
        {
            Queue.Writer.TryComplete();
            _socket?.Dispose();
            return _loop;
        }

        private async Task WriteLoop(CancellationToken stopping)
        {
            var options = _transport._options;
            var delay = options.ReconnectDelayMin;
            while (!stopping.IsCancellationRequested)
            {
                try
                {
                    using var socket = await Connect(stopping);
                    _socket = socket;
                    delay = options.ReconnectDelayMin;
                    await using var stream = new NetworkStream(socket, ownsSocket: false);
                    var writer = PipeWriter.Create(stream);
                    while (await Queue.Reader.WaitToReadAsync(stopping))
                    {
                        // Drain everything queued into one flush: batching across messages.
                        while (Queue.Reader.TryRead(out var message))
                        {
                            MessageCodec.WriteFrame(message, writer);
                        }

                        var flushed = await writer.FlushAsync(stopping);
                        if (flushed.IsCompleted)
                        {
                            break;
                        }
                    }

                    return;
                }
                catch (Exception) when (stopping.IsCancellationRequested)
                {
                    return;
                }
                catch (Exception e) when (e is SocketException or IOException or ObjectDisposedException or TimeoutException or OperationCanceledException)
                {
                    // Messages queued while disconnected stay queued (bounded); Raft retries the rest.
                    _transport._logger.LogDebug("Connection to peer {Peer} at {Address} failed: {Reason}", Id, _address, e.Message);
                }

                var jittered = delay * (0.5 + Random.Shared.NextDouble());
                await Task.Delay(jittered, stopping).ContinueWith(_ => { }, TaskScheduler.Default);
                delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, options.ReconnectDelayMax.Ticks));
            }
        }

        private async Task<Socket> Connect(CancellationToken stopping)
        {
            var address = _address;
            var colon = address.LastIndexOf(':');
            var host = address[..colon];
            var port = int.Parse(address[(colon + 1)..], System.Globalization.CultureInfo.InvariantCulture);
            var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stopping);
            timeout.CancelAfter(_transport._options.ConnectTimeout);
            try
            {
                await socket.ConnectAsync(host, port, timeout.Token);
                return socket;
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }
    }
}
