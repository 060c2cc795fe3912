using Microsoft.Extensions.Options;

namespace Coordination.Silo.Backup;

/// <summary>
/// Backups to Azure Blob Storage, bound from <c>Coordination:Backup</c> (environment
/// <c>Coordination__Backup__ConnectionString</c>, from a Kubernetes Secret). Off without a connection string.
/// </summary>
public sealed class BlobBackupSettings
{
    public const string Section = "Coordination:Backup";

    /// <summary>An Azure Storage connection string with AccountName and AccountKey.</summary>
    public string? ConnectionString { get; set; }

    public string Container { get; set; } = "coordination-backups";

    /// <summary>Blob names are <c>{Prefix}{applied index, 20 digits}.snap</c>, so name order is age order.</summary>
    public string Prefix { get; set; } = "";

    /// <summary>The leader saves and uploads the state this often; 0 means only on demand.</summary>
    public int IntervalSeconds { get; set; }

    /// <summary>How many backups under <see cref="Prefix"/> to keep; older ones are deleted after each upload.</summary>
    public int Keep { get; set; } = 48;
}

/// <summary>
/// Saves the whole state (<see cref="StateSnapshots.SaveAsync"/>) and uploads it with
/// <see cref="AzureBlobBackup"/>: on demand (<c>POST /v1/cluster/backups</c>) and, with an interval,
/// on a timer on whichever silo leads. Failures of a scheduled backup are logged and retried at the
/// next tick; they never stop the silo.
/// </summary>
public sealed class BlobBackupService : BackgroundService
{
    private readonly SiloRuntime _silo;
    private readonly BlobBackupSettings _settings;
    private readonly ILogger<BlobBackupService> _logger;
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromMinutes(5) };
    private readonly AzureBlobBackup? _blobs;
    private readonly SemaphoreSlim _one = new(1, 1);
    private bool _containerReady;

    public BlobBackupService(SiloRuntime silo, IOptions<BlobBackupSettings> settings, ILogger<BlobBackupService> logger)
    {
        _silo = silo;
        _settings = settings.Value;
        _logger = logger;
        ArgumentOutOfRangeException.ThrowIfNegative(_settings.IntervalSeconds);
        ArgumentOutOfRangeException.ThrowIfLessThan(_settings.Keep, 1);
        if (!string.IsNullOrEmpty(_settings.ConnectionString))
        {
            _blobs = new AzureBlobBackup(_http, AzureBlobBackupOptions.FromConnectionString(_settings.ConnectionString, _settings.Container));
        }
    }

    public bool Configured => _blobs is not null;

    /// <summary>Saves the state now and uploads it; returns the blob written. One backup at a time.</summary>
    public async Task<BlobItem> BackupNowAsync(CancellationToken cancellation)
    {
        var blobs = _blobs ?? throw new InvalidOperationException("Coordination:Backup:ConnectionString is not set");
        await _one.WaitAsync(cancellation);
        try
        {
            var state = await StateSnapshots.SaveAsync(_silo, cancellation);
            var index = StateSnapshots.AppliedIndex(state);
            var name = $"{_settings.Prefix}{index:D20}.snap";
            if (!_containerReady)
            {
                await blobs.CreateContainerIfNotExistsAsync(cancellation);
                _containerReady = true;
            }

            await blobs.UploadAsync(name, new MemoryStream(state, writable: false), cancellation);
            var all = await blobs.ListAsync(_settings.Prefix, cancellation: cancellation);
            foreach (var old in all.Where(b => b.Name.EndsWith(".snap", StringComparison.Ordinal)).OrderByDescending(b => b.Name, StringComparer.Ordinal).Skip(_settings.Keep))
            {
                await blobs.DeleteAsync(old.Name, cancellation);
            }

            _logger.LogInformation("Backed up the state at index {Index} ({Bytes} bytes) to {Blob}", index, state.Length, name);
            return new BlobItem(name, state.Length, DateTimeOffset.UtcNow);
        }
        finally
        {
            _one.Release();
        }
    }

    public override void Dispose()
    {
        base.Dispose();
        _http.Dispose();
        _one.Dispose();
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (_blobs is null || _settings.IntervalSeconds == 0)
        {
            return;
        }

        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(_settings.IntervalSeconds));
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            if (_silo.Host.Status.Leader != _silo.Options.NodeId)
            {
                continue;
            }

            try
            {
                await BackupNowAsync(stoppingToken);
            }
            catch (Exception e) when (e is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
            {
                _logger.LogWarning(e, "Scheduled backup failed; retrying at the next interval");
            }
        }
    }
}
