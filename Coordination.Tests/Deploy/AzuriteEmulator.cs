using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using Coordination.Silo.Backup;
using Coordination.Tests.Api;

namespace Coordination.Tests.Deploy;

/// <summary>
/// The Azurite blob emulator from npm, installed once into a folder the tests own (next to the test
/// assembly) and started on a free 127.0.0.1 port with its data in a temporary directory. If npm or
/// Azurite cannot be installed or started, this throws: backup tests fail, they never pass vacuously.
/// </summary>
public sealed class AzuriteEmulator : IAsyncDisposable
{
    public const string Version = "3.35.0";
    public const string Account = "devstoreaccount1";

    /// <summary>Azurite's well-known development key (public, documented by Microsoft).</summary>
    public const string Key = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    private static readonly TimeSpan InstallMax = TimeSpan.FromMinutes(5);
    private static readonly TimeSpan StartMax = TimeSpan.FromSeconds(30);
    private static readonly SemaphoreSlim InstallLock = new(1, 1);
    private readonly Process _process;
    private readonly string _data;
    private readonly StringBuilder _log = new();

    private AzuriteEmulator(Process process, string data, int port)
    {
        _process = process;
        _data = data;
        ServiceUri = new Uri($"http://127.0.0.1:{port}/{Account}");
    }

    public Uri ServiceUri { get; }

    public string Log
    {
        get
        {
            lock (_log)
            {
                return _log.ToString();
            }
        }
    }

    public string ConnectionString => $"DefaultEndpointsProtocol=http;AccountName={Account};AccountKey={Key};BlobEndpoint={ServiceUri}";

    public AzureBlobBackupOptions Options(string container) => new(ServiceUri, Account, Key, container);

    public static async Task<AzuriteEmulator> StartAsync()
    {
        var main = await InstallAsync();
        var port = SiloFactory.FreePort();
        var data = Path.Combine(Path.GetTempPath(), "coord-azurite-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(data);
        var info = new ProcessStartInfo(DeployPaths.Which("node") ?? throw new InvalidOperationException("node is not on PATH; Azurite cannot run"))
        {
            ArgumentList = { main, "--blobHost", "127.0.0.1", "--blobPort", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--location", data, "--loose" },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        var process = Process.Start(info) ?? throw new InvalidOperationException("node did not start");
        var emulator = new AzuriteEmulator(process, data, port);
        process.OutputDataReceived += (_, e) => emulator.Append(e.Data);
        process.ErrorDataReceived += (_, e) => emulator.Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            var waited = Stopwatch.StartNew();
            while (true)
            {
                if (process.HasExited)
                {
                    throw new InvalidOperationException($"Azurite exited with {process.ExitCode}:\n{emulator.Log}");
                }

                try
                {
                    using var probe = new TcpClient();
                    await probe.ConnectAsync("127.0.0.1", port).WaitAsync(TimeSpan.FromSeconds(1));
                    return emulator;
                }
                catch (Exception e) when (e is SocketException or TimeoutException)
                {
                }

                if (waited.Elapsed > StartMax)
                {
                    throw new TimeoutException($"Azurite did not listen on {port} within {StartMax}:\n{emulator.Log}");
                }

                await Task.Delay(100);
            }
        }
        catch
        {
            await emulator.DisposeAsync();
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        }

        _process.Dispose();
        DeployPaths.DeleteDirectory(_data);
    }

    private static async Task<string> InstallAsync()
    {
        var folder = Path.Combine(AppContext.BaseDirectory, "azurite-npm");
        var main = Path.Combine(folder, "node_modules", "azurite", "dist", "src", "blob", "main.js");
        await InstallLock.WaitAsync();
        try
        {
            if (File.Exists(main))
            {
                return main;
            }

            var npm = DeployPaths.Which("npm") ?? throw new InvalidOperationException("npm is not on PATH: install Node.js and npm to run the Azure Blob backup tests");
            Directory.CreateDirectory(folder);
            var (exit, output) = DeployPaths.Run(npm, ["install", "--prefix", folder, "--no-audit", "--no-fund", "--no-save", $"azurite@{Version}"], folder, InstallMax);
            if (exit != 0 || !File.Exists(main))
            {
                throw new InvalidOperationException($"npm install azurite@{Version} failed ({exit}):\n{output}");
            }

            return main;
        }
        finally
        {
            InstallLock.Release();
        }
    }

    private void Append(string? line)
    {
        lock (_log)
        {
            _log.AppendLine(line);
        }
    }
}
