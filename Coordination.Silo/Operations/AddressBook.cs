using System.Text.Json;

namespace Coordination.Silo;

/// <summary>
/// The JSON of the replicated address book: <c>{"members":[{"id":4,"clientUrl":"http://h:5080","peerAddress":"h:5090","http2Url":"http://h:7080"}]}</c>
/// (<c>http2Url</c> only for silos that serve HTTP/2 without TLS; books written before it existed have none).
/// </summary>
public static class AddressBook
{
    private sealed record Entry(ulong Id, string ClientUrl, string PeerAddress, [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)] string? Http2Url = null);

    private sealed record Book(List<Entry> Members);

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public static IReadOnlyList<SiloAddress> Parse(byte[] json) =>
        [.. (JsonSerializer.Deserialize<Book>(json, Json)?.Members ?? []).Select(e => new SiloAddress(e.Id, e.ClientUrl, e.PeerAddress, e.Http2Url))];

    /// <summary>
    /// The address to use for a silo the book lists. A book never says a silo has no HTTP/2 port: an
    /// entry without one was written before the silo had it, or by a silo from before the field
    /// existed, so it takes the HTTP/2 URL the configured members (<c>--members</c>) give the same silo
    /// at the same client and peer addresses. (A rolling upgrade that adds the port to every member
    /// entry then reaches silos added at run time too.)
    /// </summary>
    public static SiloAddress Resolve(SiloAddress fromBook, IEnumerable<SiloAddress> configured) =>
        fromBook.Http2Url is null
        && configured.FirstOrDefault(c => c.Id == fromBook.Id && c.ClientUrl == fromBook.ClientUrl && c.PeerAddress == fromBook.PeerAddress) is { Http2Url: { } http2Url }
            ? fromBook with { Http2Url = http2Url }
            : fromBook;

    public static byte[] With(byte[]? json, SiloAddress added)
    {
        var members = json is null ? [] : Parse(json).Where(m => m.Id != added.Id).ToList();
        members.Add(added);
        return JsonSerializer.SerializeToUtf8Bytes(new Book([.. members.OrderBy(m => m.Id).Select(m => new Entry(m.Id, m.ClientUrl, m.PeerAddress, m.Http2Url))]), Json);
    }
}
