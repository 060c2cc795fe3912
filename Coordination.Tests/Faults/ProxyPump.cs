using System.Net.Sockets;

namespace Coordination.Tests.Faults;

/// <summary>The byte pump of the fault proxies: copies one direction until either end closes, the proxy stops, or the link is cut.</summary>
internal static class ProxyPump
{
    public static async Task CopyAsync(Socket from, Socket to, Func<bool> cut, CancellationToken stopping)
    {
        var buffer = new byte[16 * 1024];
        try
        {
            while (!stopping.IsCancellationRequested)
            {
                var read = await from.ReceiveAsync(buffer, SocketFlags.None, stopping);
                if (read == 0 || cut())
                {
                    return;
                }

                await to.SendAsync(buffer.AsMemory(0, read), SocketFlags.None, stopping);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }
    }
}
