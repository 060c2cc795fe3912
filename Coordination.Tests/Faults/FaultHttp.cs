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
    /// <summary>How many times <see cref="FaultHttp.SendSettled"/> sent it (1 for a plain send).</summary>
    public int Attempts { get; init; } = 1;

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

    public async Task<Reply> Send(Uri silo, HttpMethod method, string path, object? body = null, string? idempotencyKey = null)
    {
        using var request = new HttpRequestMessage(method, new Uri(silo, path));
        if (idempotencyKey is not null)
        {
            request.Headers.Add("Idempotency-Key", idempotencyKey);
        }

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
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException or JsonException or System.Net.Sockets.SocketException)
        {
            // A bare SocketException too: a connection reset while it is being set up ("transport
            // endpoint is not connected" reading its remote end) escapes HttpClient unwrapped.
            return new Reply(Delivery.Lost, 0, null, default);
        }
    }

    /// <summary>
    /// A mutation sent with an idempotency key and retried with the same key (on any silo, up to
    /// <paramref name="attemptsMax"/> times) while its outcome is unknown: the API promises the
    /// original result and at most one application (docs/api.md, "Idempotency"), so a late answer
    /// settles what the first attempt did. Lost only if no attempt got an answer after one was lost.
    /// </summary>
    public async Task<Reply> SendSettled(Func<Uri> silo, HttpMethod method, string path, object body, string idempotencyKey, int attemptsMax = 8)
    {
        var lost = false;
        var reply = default(Reply);
        for (var attempt = 0; attempt < attemptsMax; attempt++)
        {
            reply = await Send(silo(), method, path, body, idempotencyKey);
            if (reply.Delivery == Delivery.Answered || (reply.Delivery == Delivery.NotSent && !lost))
            {
                return reply with { Attempts = attempt + 1 };
            }

            lost |= reply.Delivery == Delivery.Lost;
            await Task.Delay(200);
        }

        return reply with { Delivery = Delivery.Lost, Attempts = attemptsMax };
    }

    public void Dispose() => _http.Dispose();
}
