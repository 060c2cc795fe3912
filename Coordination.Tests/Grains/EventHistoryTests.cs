using Coordination.Grains;

namespace Coordination.Tests.Grains;

public class EventHistoryTests
{
    private readonly GrainHarness _h = new();

    [Fact]
    public void Events_since_a_revision_are_every_later_change_in_order_and_filterable()
    {
        _h.Expect<ConfigPut>(new PutConfig("a", "1"u8.ToArray()));
        var mark = _h.Index;
        _h.Expect<ConfigPut>(new PutConfig("b", "1"u8.ToArray()));
        _h.Expect<SequenceReserved>(new ReserveSequence("s"));
        _h.Expect<ConfigPut>(new PutConfig("a", "2"u8.ToArray()));
        var page = _h.Machine.EventsSince(mark, EventFilter.All);
        Assert.False(page.Compacted);
        Assert.Equal([mark + 1, mark + 2, mark + 3], page.Events.Select(e => e.Revision));
        Assert.Equal(_h.Index, page.ResumeAfter);
        var onlyA = _h.Machine.EventsSince(0, new EventFilter(GrainKind.Config, "a"));
        Assert.Equal([1L, 2L], onlyA.Events.Select(e => e.Version));
    }

    [Fact]
    public void A_page_ends_between_revisions_and_resuming_loses_nothing()
    {
        var holder = _h.Session();
        var readers = Enumerable.Range(0, 5).Select(_ => _h.Session()).ToArray();
        var token = _h.Lock("rw", holder);
        foreach (var r in readers)
        {
            _h.Wait("rw", r, mode: LockMode.Shared);
        }

        _h.Expect<LockReleased>(new ReleaseLock("rw", holder, token));
        var all = _h.Machine.EventsSince(0, EventFilter.All).Events;
        var collected = new List<GrainEvent>();
        ulong after = 0;
        var cutPages = 0;
        for (var pages = 0; pages < all.Count; pages++)
        {
            var page = _h.Machine.EventsSince(after, EventFilter.All, maxEvents: 2);
            collected.AddRange(page.Events);
            after = page.ResumeAfter;
            if (!page.More)
            {
                // Not cut: the page reached the newest applied entry.
                Assert.Equal(_h.Machine.AppliedIndex, page.ResumeAfter);
                break;
            }

            cutPages++;
            Assert.Equal(page.Events[^1].Revision, page.ResumeAfter);
        }

        Assert.Equal(all, collected);
        Assert.True(cutPages > 0, "the history holds more than one page of two events");
    }

    [Fact]
    public void Asking_for_a_revision_older_than_the_history_says_compacted_instead_of_skipping()
    {
        _h.CheckEveryStep = false;
        for (var i = 0; i < Limits.EventHistoryMax + 10; i++)
        {
            _h.Expect<SequenceReserved>(new ReserveSequence("s"));
        }

        var page = _h.Machine.EventsSince(5, EventFilter.All);
        Assert.True(page.Compacted);
        Assert.Empty(page.Events);
        Assert.Equal(_h.Index, page.ResumeAfter);
        Assert.Equal(Limits.EventHistoryMax, _h.Machine.Counts.Events);
        var recent = _h.Machine.EventsSince(_h.Index - 3, EventFilter.All);
        Assert.False(recent.Compacted);
        Assert.Equal(3, recent.Events.Count);
    }

    [Fact]
    public void Compaction_drops_whole_revisions_only()
    {
        var history = new EventHistory(capacity: 4);
        history.Append(new GrainEvent(1, EventType.ConfigPut, GrainKind.Config, "a"));
        history.Append(new GrainEvent(2, EventType.LockReleased, GrainKind.Lock, "l"));
        history.Append(new GrainEvent(2, EventType.LockGranted, GrainKind.Lock, "l"));
        history.Append(new GrainEvent(2, EventType.LockGranted, GrainKind.Lock, "l"));
        history.Append(new GrainEvent(3, EventType.ConfigPut, GrainKind.Config, "a"));
        Assert.Equal(1UL, history.CompactedThrough);
        history.Append(new GrainEvent(4, EventType.ConfigPut, GrainKind.Config, "a"));
        Assert.Equal(2UL, history.CompactedThrough);
        Assert.True(history.Since(1, EventFilter.All, 10, 4).Compacted);
        Assert.Equal([3UL, 4UL], history.Since(2, EventFilter.All, 10, 4).Events.Select(e => e.Revision));
    }
}
