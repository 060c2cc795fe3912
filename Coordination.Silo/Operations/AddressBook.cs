using System.Text.Json;

namespace Coordination.Silo;

/// <summary>The JSON of the replicated address book: <c>{"members":[{"id":4,"clientUrl":"http://h:5080","peerAddress":"h:5090"}]}</c>.</summary>
public static class AddressBook
{
    private sealed record Entry(ulong Id, string ClientUrl, string PeerAddress);

    private sealed record Book(List<Entry> Members);

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public static IReadOnlyList<SiloAddress> Parse(byte[] json) =>
        [.. (JsonSerializer.Deserialize<Book>(json, Json)?.Members ?? []).Select(e => new SiloAddress(e.Id, e.ClientUrl, e.PeerAddress))];

    public static byte[] With(byte[]? json, SiloAddress added)
    {
        var members = json is null ? [] : Parse(json).Where(m => m.Id != added.Id).ToList();
        members.Add(added);
        return JsonSerializer.SerializeToUtf8Bytes(new Book([.. members.OrderBy(m => m.Id).Select(m => new Entry(m.Id, m.ClientUrl, m.PeerAddress))]), Json);
    }
}
