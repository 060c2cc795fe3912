using System.Text;
using Coordination.Silo;

namespace Coordination.Tests.Silo;

public sealed class AddressBookTests
{
    [Fact]
    public void A_silos_http2_url_survives_the_round_trip_and_a_book_from_before_it_still_reads()
    {
        var written = AddressBook.With(null, new SiloAddress(4, "http://h:5080", "h:5090", "http://h:7080"));
        written = AddressBook.With(written, new SiloAddress(5, "http://i:5080", "i:5090"));

        Assert.Equal([new SiloAddress(4, "http://h:5080", "h:5090", "http://h:7080"), new SiloAddress(5, "http://i:5080", "i:5090")], AddressBook.Parse(written));
        Assert.DoesNotContain("\"http2Url\":null", Encoding.UTF8.GetString(written), StringComparison.Ordinal);

        var older = """{"members":[{"id":4,"clientUrl":"http://h:5080","peerAddress":"h:5090"}]}"""u8.ToArray();
        Assert.Equal([new SiloAddress(4, "http://h:5080", "h:5090")], AddressBook.Parse(older));
    }

    [Fact]
    public void A_book_entry_without_an_http2_url_takes_the_configured_one_for_the_same_silo_at_the_same_addresses()
    {
        IReadOnlyList<SiloAddress> configured = [new(4, "http://h:5080", "h:5090", "http://h:5070"), new(5, "http://i:5080", "i:5090")];

        Assert.Equal(new SiloAddress(4, "http://h:5080", "h:5090", "http://h:5070"), AddressBook.Resolve(new SiloAddress(4, "http://h:5080", "h:5090"), configured));

        // The book wins whenever it says something: its own HTTP/2 URL, or other addresses (the silo moved).
        Assert.Equal(new SiloAddress(4, "http://h:5080", "h:5090", "http://h:7000"), AddressBook.Resolve(new SiloAddress(4, "http://h:5080", "h:5090", "http://h:7000"), configured));
        Assert.Equal(new SiloAddress(4, "http://g:5080", "g:5090"), AddressBook.Resolve(new SiloAddress(4, "http://g:5080", "g:5090"), configured));
        Assert.Equal(new SiloAddress(5, "http://i:5080", "i:5090"), AddressBook.Resolve(new SiloAddress(5, "http://i:5080", "i:5090"), configured));
        Assert.Equal(new SiloAddress(6, "http://j:5080", "j:5090"), AddressBook.Resolve(new SiloAddress(6, "http://j:5080", "j:5090"), configured));
    }
}
