using System.Net;
using System.Text;
using System.Threading.Channels;

namespace Coordination.Tests.Client;

/// <summary>One request as the fake silo saw it.</summary>
public sealed record RecordedRequest(HttpMethod Method, Uri Uri, string? Body, string? IdempotencyKey, IReadOnlyDictionary<string, string> Headers, Version? Version = null)
{
    public string PathAndQuery => Uri.PathAndQuery;

    public string Authority => Uri.Authority;

    public override string ToString() => $"{Method} {Uri}";
}

/// <summary>
/// A scripted stand-in for the cluster: rules (method + path or absolute URL, matched in the order
/// added, each good for a number of requests) answer requests; any request no rule answers fails the
/// test. Records every request and lets a test await them one by one (bounded).
/// </summary>
public sealed class FakeHandler : HttpMessageHandler
{
    public static readonly TimeSpan WaitMax = TimeSpan.FromSeconds(10);

    private readonly Lock _lock = new();
    private readonly List<Rule> _rules = [];
    private readonly List<RecordedRequest> _requests = [];
    private readonly Channel<RecordedRequest> _seen = Channel.CreateUnbounded<RecordedRequest>();

    public IReadOnlyList<RecordedRequest> Requests
    {
        get
        {
            lock (_lock)
            {
                return [.. _requests];
            }
        }
    }

    /// <summary>Answers <paramref name="times"/> requests matching <paramref name="method"/> and <paramref name="target"/> with <paramref name="respond"/>.</summary>
    public FakeHandler When(string method, string target, Func<RecordedRequest, CancellationToken, Task<HttpResponseMessage>> respond, int times = 1)
    {
        lock (_lock)
        {
            _rules.Add(new Rule(method, target, respond, times));
        }

        return this;
    }

    public FakeHandler Json(string method, string target, string json, HttpStatusCode status = HttpStatusCode.OK, int times = 1, params (string Name, string Value)[] headers) =>
        When(method, target, (_, _) => Task.FromResult(Answer(status, json, "application/json", headers)), times);

    public FakeHandler Problem(string method, string target, HttpStatusCode status, string code, int times = 1, params (string Name, string Value)[] headers) =>
        When(method, target, (_, _) => Task.FromResult(Answer(status, $$"""{"type":"about:blank","title":"{{code}}","status":{{(int)status}},"code":"{{code}}","detail":"scripted"}""", "application/problem+json", headers)), times);

    /// <summary>The connection fails (refused, reset) for <paramref name="times"/> matching requests.</summary>
    public FakeHandler Refuse(string method, string target, int times = 1) =>
        When(method, target, (_, _) => Task.FromException<HttpResponseMessage>(new HttpRequestException("Connection refused (scripted).")), times);

    /// <summary>The next request the client sends, within <see cref="WaitMax"/>.</summary>
    public async Task<RecordedRequest> NextRequestAsync() => await _seen.Reader.ReadAsync().AsTask().WaitAsync(WaitMax);

    public static HttpResponseMessage Answer(HttpStatusCode status, string body, string mediaType, params (string Name, string Value)[] headers)
    {
        var response = new HttpResponseMessage(status) { Content = new StringContent(body, Encoding.UTF8, mediaType) };
        foreach (var (name, value) in headers)
        {
            response.Headers.TryAddWithoutValidation(name, value);
        }

        return response;
    }

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var body = request.Content is null ? null : await request.Content.ReadAsStringAsync(cancellationToken);
        var key = request.Headers.TryGetValues("Idempotency-Key", out var keys) ? keys.Single() : null;
        var headers = request.Headers.ToDictionary(h => h.Key, h => string.Join(",", h.Value), StringComparer.OrdinalIgnoreCase);
        var recorded = new RecordedRequest(request.Method, request.RequestUri!, body, key, headers, request.Version);
        Rule? rule;
        lock (_lock)
        {
            _requests.Add(recorded);
            rule = _rules.FirstOrDefault(r => r.Times > 0 && r.Matches(recorded));
            if (rule is not null)
            {
                rule.Times--;
            }
        }

        _seen.Writer.TryWrite(recorded);
        if (rule is null)
        {
            throw new InvalidOperationException($"The fake cluster has no answer for {recorded}.");
        }

        return await rule.Respond(recorded, cancellationToken);
    }

    private sealed class Rule(string method, string target, Func<RecordedRequest, CancellationToken, Task<HttpResponseMessage>> respond, int times)
    {
        public int Times { get; set; } = times;

        public Func<RecordedRequest, CancellationToken, Task<HttpResponseMessage>> Respond { get; } = respond;

        public bool Matches(RecordedRequest request) =>
            request.Method.Method == method
            && (target.StartsWith("http", StringComparison.Ordinal) ? request.Uri.AbsoluteUri == target : request.PathAndQuery == target);
    }
}
