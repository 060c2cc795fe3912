using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace Coordination.Tests.Faults;

/// <summary>How a request ended, as far as its effect is concerned.</summary>
public enum Delivery
{
    /// <summary>The silo answered with a status that says what happened (2xx, 4xx).</summary>
    Answered,

    /// <summary>The connection was refused: the request never left, so it had no effect.</summary>
    NotSent,

    /// <summary>Timeout, reset, 503 or 504: it may or may not have taken effect.</summary>
    Lost,
}

public readonly record struct Reply(Delivery Delivery, HttpStatusCode Status, string? Code, JsonElement Body)
{
    public bool Is(HttpStatusCode status) => Delivery == Delivery.Answered && Status == status;

    public bool Is(string code) => Delivery == Delivery.Answered && Code == code;
}

/// <summary>
/// One client's HTTP access to the silos with a per-operation timeout, classifying every outcome.
/// Not thread-safe: one per client task.
/// </summary>
public sealed class FaultHttp : IDisposable
{
    private readonly HttpClient _http;

    public FaultHttp(TimeSpan timeout)
    {
        var handler = new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromMilliseconds(500), PooledConnectionLifetime = TimeSpan.FromSeconds(5) };
        _http = new HttpClient(handler) { Timeout = timeout };
    }

    public async Task<Reply> Send(Uri silo, HttpMethod method, string path, object? body = null)
    {
        using var request = new HttpRequestMessage(method, new Uri(silo, path));
        if (body is not null)
        {
            request.Content = JsonContent.Create(body);
        }

        try
        {
            using var response = await _http.SendAsync(request);
            var text = await response.Content.ReadAsStringAsync();
            var json = text.Length > 0 && text[0] == '{' ? JsonDocument.Parse(text).RootElement.Clone() : default;
            var code = json.ValueKind == JsonValueKind.Object && json.TryGetProperty("code", out var c) ? c.GetString() : null;
            var lost = response.StatusCode is HttpStatusCode.ServiceUnavailable or HttpStatusCode.GatewayTimeout or HttpStatusCode.InternalServerError or HttpStatusCode.BadGateway;
            return new Reply(lost ? Delivery.Lost : Delivery.Answered, response.StatusCode, code, json);
        }
        catch (HttpRequestException e) when (e.HttpRequestError == HttpRequestError.ConnectionError && e.InnerException is System.Net.Sockets.SocketException { SocketErrorCode: System.Net.Sockets.SocketError.ConnectionRefused })
        {
            return new Reply(Delivery.NotSent, 0, null, default);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException or JsonException)
        {
            return new Reply(Delivery.Lost, 0, null, default);
        }
    }

    public void Dispose() => _http.Dispose();
}
