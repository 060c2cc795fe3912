using Coordination.Consensus;

namespace Coordination.Tests;

public class MembershipEncodingTests
{
    [Fact]
    public void A_membership_survives_encoding_and_decoding()
    {
        var membership = new Membership([1, 2, 3], [7]);
        var decoded = Membership.Decode(membership.Encode());
        Assert.Equal(membership, decoded);
        Assert.Equal(2, decoded.Quorum);
    }

    [Fact]
    public void Truncated_membership_bytes_are_rejected()
    {
        var bytes = new Membership([1, 2], []).Encode();
        Assert.Throws<InvariantViolationException>(() => Membership.Decode(bytes.AsSpan(0, bytes.Length - 3)));
    }
}
