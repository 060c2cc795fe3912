using System.Net;
using System.Security.Cryptography;
using System.Text;
using Coordination.Silo.Backup;
using Coordination.Tests.Api;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;

namespace Coordination.Tests.Deploy;

/// <summary>One Azurite for the test class; each test uses its own container.</summary>
public sealed class AzuriteFixture : IAsyncLifetime
{
    private AzuriteEmulator? _azurite;

    public AzuriteEmulator Azurite => _azurite ?? throw new InvalidOperationException("Azurite did not start");

    public async Task InitializeAsync() => _azurite = await AzuriteEmulator.StartAsync();

    public async Task DisposeAsync()
    {
        if (_azurite is not null)
        {
            await _azurite.DisposeAsync();
        }
    }
}

/// <summary>The Blob Storage backup client against the Azurite emulator (real SharedKey checks, real REST).</summary>
[Collection(ExternalProcessCollection.Name)]
public sealed class AzureBlobBackupTests(AzuriteFixture fixture) : IClassFixture<AzuriteFixture>, IDisposable
{
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(30) };

    private AzuriteEmulator Azurite => fixture.Azurite;

    public void Dispose() => _http.Dispose();

    [Fact]
    public async Task Blobs_are_uploaded_listed_downloaded_replaced_and_deleted()
    {
        var backup = new AzureBlobBackup(_http, Azurite.Options("backups"));
        Assert.True(await backup.CreateContainerIfNotExistsAsync());
        Assert.False(await backup.CreateContainerIfNotExistsAsync());

        await backup.UploadAsync("cluster-a/0001.snap", Bytes("first"));
        await backup.UploadAsync("cluster-a/0002.snap", Bytes("second snapshot"));
        await backup.UploadAsync("cluster-b/0001.snap", Bytes("other cluster"));
        await backup.UploadAsync("cluster-a/empty.snap", new MemoryStream());

        var listed = await backup.ListAsync("cluster-a/");
        Assert.Equal(["cluster-a/0001.snap", "cluster-a/0002.snap", "cluster-a/empty.snap"], listed.Select(b => b.Name));
        Assert.Equal([5L, 15L, 0L], listed.Select(b => b.Length));
        Assert.All(listed, b => Assert.True(b.LastModified > DateTimeOffset.UtcNow.AddHours(-1)));
        Assert.Equal(4, (await backup.ListAsync()).Count);

        Assert.Equal("second snapshot", await Text(backup, "cluster-a/0002.snap"));
        Assert.Equal("", await Text(backup, "cluster-a/empty.snap"));
        await backup.UploadAsync("cluster-a/0002.snap", Bytes("replaced"));
        Assert.Equal("replaced", await Text(backup, "cluster-a/0002.snap"));

        Assert.True(await backup.DeleteAsync("cluster-a/0001.snap"));
        Assert.False(await backup.DeleteAsync("cluster-a/0001.snap"));
        var missing = await Assert.ThrowsAsync<AzureBlobException>(() => Text(backup, "cluster-a/0001.snap"));
        Assert.Equal(HttpStatusCode.NotFound, missing.Status);
        Assert.Equal("BlobNotFound", missing.ErrorCode);
    }

    [Fact]
    public async Task A_large_backup_is_uploaded_in_blocks_and_downloads_byte_for_byte_with_its_md5()
    {
        var backup = new AzureBlobBackup(_http, Azurite.Options("large") with { BlockBytes = 64 * 1024 });
        await backup.CreateContainerIfNotExistsAsync();
        var content = new byte[(300 * 1024) + 17];
        new Random(9).NextBytes(content);

        await backup.UploadAsync("snapshots/big.snap", new MemoryStream(content));
        var exact = new byte[64 * 1024 * 2];
        new Random(10).NextBytes(exact);
        await backup.UploadAsync("snapshots/exact.snap", new MemoryStream(exact));

        // The committed blob carries the MD5 of the whole content, so downloads are verified.
        using var downloaded = new MemoryStream();
        Assert.Equal((content.Length, true), await backup.DownloadAsync("snapshots/big.snap", downloaded));
        Assert.Equal(content, downloaded.ToArray());
        using var second = new MemoryStream();
        Assert.Equal((exact.Length, true), await backup.DownloadAsync("snapshots/exact.snap", second));
        Assert.Equal(exact, second.ToArray());

        var listed = await backup.ListAsync("snapshots/");
        Assert.Equal([content.Length, exact.Length], listed.Select(b => b.Length));
    }

    [Fact]
    public async Task Names_that_need_escaping_are_signed_and_stored_as_given()
    {
        var backup = new AzureBlobBackup(_http, Azurite.Options("names"));
        await backup.CreateContainerIfNotExistsAsync();
        const string name = "cluster a/2026-11-21 12:00/snap ü+#%.bin";
        await backup.UploadAsync(name, Bytes("escaped"));
        Assert.Equal(name, Assert.Single(await backup.ListAsync("cluster a/")).Name);
        Assert.Equal("escaped", await Text(backup, name));
    }

    [Fact]
    public async Task Listing_follows_continuation_markers()
    {
        var backup = new AzureBlobBackup(_http, Azurite.Options("pages"));
        await backup.CreateContainerIfNotExistsAsync();
        for (var i = 0; i < 7; i++)
        {
            await backup.UploadAsync($"b/{i:D2}", Bytes(i.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        }

        var all = await backup.ListAsync("b/", pageSize: 3);
        Assert.Equal(Enumerable.Range(0, 7).Select(i => $"b/{i:D2}"), all.Select(b => b.Name));
    }

    [Fact]
    public async Task A_wrong_key_is_refused_by_the_service()
    {
        var wrongKey = Convert.ToBase64String(SHA256.HashData(Encoding.UTF8.GetBytes("not the key")));
        var backup = new AzureBlobBackup(_http, Azurite.Options("refused") with { AccountKey = wrongKey });
        var refused = await Assert.ThrowsAsync<AzureBlobException>(() => backup.CreateContainerIfNotExistsAsync());
        Assert.Equal(HttpStatusCode.Forbidden, refused.Status);
        Assert.Equal("AuthorizationFailure", refused.ErrorCode);
    }

    [Fact]
    public async Task The_silo_backs_up_on_demand_keeps_the_newest_and_a_new_silo_restores_from_the_blob()
    {
        using var restoreFile = new TempFile("coord-blob-restore");
        var blobs = new AzureBlobBackup(_http, Azurite.Options("silo-backups"));
        string newest;
        using (var plain = new SiloFactory())
        using (var silo = plain.WithWebHostBuilder(b => b
            .UseSetting("Coordination:Backup:ConnectionString", Azurite.ConnectionString)
            .UseSetting("Coordination:Backup:Container", "silo-backups")
            .UseSetting("Coordination:Backup:Prefix", "test-cluster/")
            .UseSetting("Coordination:Backup:Keep", "2")))
        {
            var client = await silo.ReadyClientAsync();
            var names = new List<string>();
            for (var version = 1; version <= 3; version++)
            {
                await (await client.Put("/v1/config/backed-up", new { value = new { version }, expectedVersion = version - 1 })).Json(HttpStatusCode.OK);
                var backup = await (await client.Post("/v1/cluster/backups")).Json(HttpStatusCode.OK);
                names.Add(backup.GetProperty("name").GetString()!);
            }

            Assert.Equal(names.Order(StringComparer.Ordinal), names);
            Assert.Equal(names[1..], (await blobs.ListAsync("test-cluster/")).Select(b => b.Name));
            using var file = File.Create(restoreFile.Path);
            newest = names[^1];
            await blobs.DownloadAsync(newest, file);
        }

        using var fresh = new SiloFactory();
        using var restored = fresh.WithWebHostBuilder(b => b.UseSetting("Coordination:RestoreFrom", restoreFile.Path));
        var restoredClient = await restored.ReadyClientAsync();
        var config = await (await restoredClient.GetAsync("/v1/config/backed-up")).Json(HttpStatusCode.OK);
        Assert.Equal(3, config.GetProperty("value").GetProperty("version").GetInt32());

        // The same straight from the blob, without downloading it first.
        using var fromBlob = new SiloFactory();
        using var restoredFromBlob = fromBlob.WithWebHostBuilder(b => b
            .UseSetting("Coordination:RestoreFrom", "blob:" + newest)
            .UseSetting("Coordination:Backup:ConnectionString", Azurite.ConnectionString)
            .UseSetting("Coordination:Backup:Container", "silo-backups"));
        var blobClient = await restoredFromBlob.ReadyClientAsync();
        var fromBlobConfig = await (await blobClient.GetAsync("/v1/config/backed-up")).Json(HttpStatusCode.OK);
        Assert.Equal(3, fromBlobConfig.GetProperty("value").GetProperty("version").GetInt32());
    }

    [Fact]
    public async Task With_an_interval_the_leader_backs_up_by_itself()
    {
        var blobs = new AzureBlobBackup(_http, Azurite.Options("scheduled"));
        using var plain = new SiloFactory();
        using var silo = plain.WithWebHostBuilder(b => b
            .UseSetting("Coordination:Backup:ConnectionString", Azurite.ConnectionString)
            .UseSetting("Coordination:Backup:Container", "scheduled")
            .UseSetting("Coordination:Backup:IntervalSeconds", "1"));
        var client = await silo.ReadyClientAsync();
        await (await client.Put("/v1/config/scheduled", new { value = 1, expectedVersion = 0 })).Json(HttpStatusCode.OK);
        var waited = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            try
            {
                if ((await blobs.ListAsync()).Count > 0)
                {
                    break;
                }
            }
            catch (AzureBlobException e) when (e.ErrorCode == "ContainerNotFound")
            {
            }

            Assert.True(waited.Elapsed < TimeSpan.FromSeconds(15), "no scheduled backup within 15 s");
            await Task.Delay(100);
        }
    }

    [Fact]
    public async Task Without_a_connection_string_an_on_demand_backup_is_a_clear_error()
    {
        using var silo = new SiloFactory();
        var client = await silo.ReadyClientAsync();
        Assert.Equal("backup-not-configured", await (await client.Post("/v1/cluster/backups")).Problem(HttpStatusCode.Conflict));
    }

    [Fact]
    public void A_connection_string_gives_the_endpoint_account_and_key()
    {
        var azure = AzureBlobBackupOptions.FromConnectionString("DefaultEndpointsProtocol=https;AccountName=prodbackups;AccountKey=a2V5;EndpointSuffix=core.windows.net", "coord");
        Assert.Equal(new Uri("https://prodbackups.blob.core.windows.net"), azure.ServiceUri);
        Assert.Equal(("prodbackups", "a2V5", "coord"), (azure.AccountName, azure.AccountKey, azure.Container));

        var local = AzureBlobBackupOptions.FromConnectionString($"DefaultEndpointsProtocol=http;AccountName={AzuriteEmulator.Account};AccountKey={AzuriteEmulator.Key};BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;", "coord");
        Assert.Equal(new Uri("http://127.0.0.1:10000/devstoreaccount1"), local.ServiceUri);
        Assert.Throws<ArgumentException>(() => AzureBlobBackupOptions.FromConnectionString("AccountName=x", "coord"));
    }

    private static MemoryStream Bytes(string text) => new(Encoding.UTF8.GetBytes(text));

    private static async Task<string> Text(AzureBlobBackup backup, string name)
    {
        using var stream = new MemoryStream();
        var (length, md5Checked) = await backup.DownloadAsync(name, stream);
        Assert.Equal(stream.Length, length);
        Assert.True(md5Checked || length == 0, $"{name} came back without an MD5 to check");
        return Encoding.UTF8.GetString(stream.ToArray());
    }
}
