using Coordination.Grains;

namespace Coordination.Tests.Grains;

public class SequenceTests
{
    private readonly GrainHarness _h = new();

    [Fact]
    public void Values_start_at_one_and_ranges_never_overlap()
    {
        Assert.Equal(1UL, _h.Expect<SequenceReserved>(new ReserveSequence("ids")).First);
        Assert.Equal(2UL, _h.Expect<SequenceReserved>(new ReserveSequence("ids", 10)).First);
        Assert.Equal(12UL, _h.Expect<SequenceReserved>(new ReserveSequence("ids")).First);
        Assert.Equal(12UL, _h.Machine.GetSequence("ids"));
        Assert.Equal(1UL, _h.Expect<SequenceReserved>(new ReserveSequence("other")).First);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1)]
    [InlineData(Limits.SequenceReserveCountMax + 1)]
    public void A_count_outside_the_limits_is_rejected(int count) =>
        _h.Reject(new ReserveSequence("ids", count), ErrorCode.InvalidArgument);

    [Fact]
    public void An_invalid_sequence_name_is_rejected() =>
        _h.Reject(new ReserveSequence("a b"), ErrorCode.InvalidName);
}
