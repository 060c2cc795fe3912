namespace Coordination.Client.Http;

/// <summary>
/// Chooses the silo for each attempt: writes go to the known leader, everything else to the current
/// endpoint; a failed endpoint passes the turn to the next one. Thread-safe; every member takes one lock.
/// </summary>
/// <remarks>
/// Discovery (<c>GET /v1/cluster</c>) is asked for at most once per failure: <see cref="ShouldDiscover"/>
/// is true while no leader is known and no discovery ran since the last reported failure, so a cluster
/// without a leader is not asked again on every write (any silo forwards writes anyway, docs/api.md).
/// </remarks>
internal sealed class EndpointSelector
{
    /// <summary>Discovered endpoints are added to the configured ones up to this many in all.</summary>
    public const int EndpointsMax = 64;

    private readonly Lock _lock = new();
    private readonly List<Uri> _endpoints;
    private readonly bool _http2;
    private int _current;
    private Uri? _leader;
    private bool _discovered;

    /// <param name="endpoints">The configured base URLs.</param>
    /// <param name="http2">Whether requests go over HTTP/2: then the members' HTTP/2 URLs are learned, not their HTTP/1.1 ones.</param>
    public EndpointSelector(IEnumerable<Uri> endpoints, bool http2 = false)
    {
        _http2 = http2;
        _endpoints = endpoints.Select(Normalize).Distinct().ToList();
        if (_endpoints.Count == 0)
        {
            throw new ArgumentException("At least one endpoint is required.", nameof(endpoints));
        }
    }

    /// <summary>The known leader's base URL, or null.</summary>
    public Uri? Leader
    {
        get
        {
            lock (_lock)
            {
                return _leader;
            }
        }
    }

    /// <summary>All known endpoints, the current one first: the order in which discovery asks them.</summary>
    public IReadOnlyList<Uri> InTurn()
    {
        lock (_lock)
        {
            return [.. _endpoints.Skip(_current), .. _endpoints.Take(_current)];
        }
    }

    /// <summary>True when a write should first ask the cluster who leads.</summary>
    public bool ShouldDiscover()
    {
        lock (_lock)
        {
            return _leader is null && !_discovered;
        }
    }

    /// <summary>The endpoint for the next attempt of a request.</summary>
    public Uri Pick(bool write)
    {
        lock (_lock)
        {
            return write && _leader is not null ? _leader : _endpoints[_current];
        }
    }

    /// <summary>Records what one silo said about the cluster: its members' URLs and the leader (if any).</summary>
    public void Learn(ClusterStatus status)
    {
        lock (_lock)
        {
            _discovered = true;
            Uri? leader = null;
            foreach (var member in status.Members)
            {
                // Over HTTP/2: a TLS client URL negotiates HTTP/2 itself (and must not be traded for cleartext);
                // a cleartext one speaks HTTP/1.1 only, so the member's HTTP/2 port is used, if it has one.
                var secure = member.ClientUrl?.StartsWith("https:", StringComparison.OrdinalIgnoreCase) == true;
                var address = !_http2 || secure ? member.ClientUrl : member.Http2Url;
                if (address is null || !Uri.TryCreate(address, UriKind.Absolute, out var url))
                {
                    continue;
                }

                url = Normalize(url);
                if (!_endpoints.Contains(url) && _endpoints.Count < EndpointsMax)
                {
                    _endpoints.Add(url);
                }

                if (status.Leader is not null && member.Id == status.Leader)
                {
                    leader = url;
                }
            }

            _leader = leader;
        }
    }

    /// <summary>Marks a discovery that found nothing, so the next one waits for a failure.</summary>
    public void DiscoveryFailed()
    {
        lock (_lock)
        {
            _discovered = true;
        }
    }

    /// <summary>
    /// An attempt on <paramref name="endpoint"/> failed to connect, timed out or met <c>no-leader</c>:
    /// forget it as leader, move the turn past it, and allow a new discovery.
    /// </summary>
    public void Failed(Uri endpoint)
    {
        lock (_lock)
        {
            if (_leader == endpoint)
            {
                _leader = null;
            }

            if (_endpoints[_current] == endpoint)
            {
                _current = (_current + 1) % _endpoints.Count;
            }

            _discovered = false;
        }
    }

    private static Uri Normalize(Uri uri)
    {
        var text = uri.GetLeftPart(UriPartial.Path);
        return new Uri(text.EndsWith('/') ? text : text + "/");
    }
}
