using System.Net;
using Coordination.Consensus;
using Coordination.Silo.Grains;
using Coordination.Silo.Hosting;
using Coordination.Silo.Storage;
using Coordination.Silo.Transport;
using Microsoft.Extensions.Options;

namespace Coordination.Silo;

/// <summary>
/// Everything one silo runs: the durable log, the grains, the peer transport and the Raft host.
/// Started and stopped by the web host; a failed apply loop stops the process (fail-stop).
/// </summary>
public sealed class SiloRuntime : IHostedService, IAsyncDisposable
{
    private readonly ILogger<SiloRuntime> _logger;
    private readonly IHostApplicationLifetime _lifetime;
    private readonly WriteAheadLog _log;
    private readonly PeerTransport _transport;
    private readonly DataDirectoryLock _dataLock;
    private readonly SiloAddress? _self;
    private int _stopped;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<ulong, SiloAddress> _directory = new();

    public SiloRuntime(IOptions<SiloOptions> options, IOptions<Backup.BlobBackupSettings> backup, ILoggerFactory loggers, IHostApplicationLifetime lifetime, TimeProvider time)
    {
        var settings = options.Value;
        settings.Validate();
        _logger = loggers.CreateLogger<SiloRuntime>();
        _lifetime = lifetime;
        Options = settings;
        Members = settings.ParseMembers();
        _self = Members.FirstOrDefault(m => m.Id == settings.NodeId);
        _dataLock = DataDirectoryLock.Acquire(settings.DataDirectory);
        _log = WriteAheadLog.Open(new PhysicalFileSystem(), settings.DataDirectory, WriteAheadLogOptions.Default, loggers.CreateLogger<WriteAheadLog>());
        if (_log.LastIndex == 0 && _log.HardState.Term == 0 && !settings.Join)
        {
            var founders = new Membership(Members.Select(m => m.Id), []);
            var staged = Path.Combine(settings.DataDirectory, Backup.StateSnapshots.StagedRestoreFileName);
            var restoreFrom = !string.IsNullOrEmpty(settings.RestoreFrom) ? settings.RestoreFrom : File.Exists(staged) ? staged : null;
            if (restoreFrom is null)
            {
                RaftNode.Bootstrap(_log, founders);
                _logger.LogInformation("Bootstrapped a new cluster: {Members}", founders);
            }
            else
            {
                var applied = Backup.StateSnapshots.Bootstrap(_log, founders, Backup.StateSnapshots.ReadRestoreSource(restoreFrom, backup.Value), Backup.StateSnapshots.RevisionSkip);
                _logger.LogInformation("Bootstrapped a new cluster {Members} from the state in {File}, starting at index {Index} ({Skip} past the saved one)", founders, restoreFrom, applied, Backup.StateSnapshots.RevisionSkip);
            }

            // The log holds the state now (synced by Bootstrap); the staged copy has done its job.
            File.Delete(staged);
        }

        State = new GrainStateMachineAdapter();
        _transport = new PeerTransport(settings.NodeId, m => Host!.Receive(m), new PeerTransportOptions(), loggers.CreateLogger<PeerTransport>());
        foreach (var member in Members)
        {
            _directory[member.Id] = member;
            _transport.SetPeer(member.Id, member.PeerAddress);
        }

        State.AddressBookChanged += LearnAddresses;

        Metrics = new HostMetrics();
        Host = new RaftHost(
            new RaftHostOptions { NodeId = settings.NodeId, TickInterval = TimeSpan.FromMilliseconds(settings.TickMs), ElectionTicks = settings.ElectionTicks },
            _log,
            State,
            _transport.Send,
            time,
            loggers.CreateLogger<RaftHost>(),
            Metrics);
    }

    public SiloOptions Options { get; }

    public IReadOnlyList<SiloAddress> Members { get; }

    public RaftHost Host { get; }

    public GrainStateMachineAdapter State { get; }

    public HostMetrics Metrics { get; }

    public ILogStorageReader Log => _log;

    public long TransportDroppedMessages => _transport.DroppedMessages;

    /// <summary>Where silo <paramref name="id"/> listens: from the configuration, updated by the replicated address book.</summary>
    public SiloAddress? AddressOf(ulong id) => _directory.GetValueOrDefault(id);

    private void LearnAddresses(byte[] json)
    {
        try
        {
            foreach (var listed in AddressBook.Parse(json))
            {
                var member = AddressBook.Resolve(listed, Members);
                _directory[member.Id] = member;
                _transport.SetPeer(member.Id, member.PeerAddress);
            }
        }
        catch (System.Text.Json.JsonException e)
        {
            _logger.LogWarning("The replicated address book is not readable: {Reason}", e.Message);
        }
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        var peer = _self?.PeerAddress ?? "127.0.0.1:0";
        var colon = peer.LastIndexOf(':');
        // A DNS name (a StatefulSet pod's stable name) resolves to this pod's changing IP: listen on every address.
        var listenAddress = IPAddress.TryParse(peer[..colon], out var ip) ? ip : IPAddress.Any;
        _transport.Listen(new IPEndPoint(listenAddress, int.Parse(peer[(colon + 1)..], System.Globalization.CultureInfo.InvariantCulture)));
        Host.Start();
        Host.Completion.ContinueWith(t =>
        {
            if (t.IsFaulted)
            {
                _logger.LogCritical(t.Exception, "The Raft loop failed; stopping the silo");
                Environment.ExitCode = 70;
                _lifetime.StopApplication();
            }
        }, TaskScheduler.Default);
        _logger.LogInformation("Silo {Node} started: clients at {Client} (HTTP/2: {Http2}), peers at {Peer}, data in {Data}", Options.NodeId, _self?.ClientUrl, _self?.Http2Url ?? "none", peer, Path.GetFullPath(Options.DataDirectory));
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _stopped, 1) == 1)
        {
            return;
        }

        await Host.DisposeAsync();
        await _transport.DisposeAsync();
        _log.Dispose();
        _dataLock.Dispose();
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync(CancellationToken.None);
        Metrics.Dispose();
    }
}
