using System.Text;
using Coordination.Client.Participants;

namespace Coordination.Tests.Participants;

public sealed class ParticipantJournalTests : IDisposable
{
    private readonly TempJournal _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void Every_record_survives_a_reopen_and_the_last_record_of_an_id_is_its_state()
    {
        using (var journal = ParticipantJournal.Open(_dir.Path))
        {
            journal.RecordPrepared("t1", "a", ParticipantVote.Commit, 100);
            journal.RecordPrepared("t2", "a", ParticipantVote.Abort("no funds"), 110);
            journal.RecordCommitted("t1", 120);
            journal.RecordAborted("t3", 130);
        }

        using var reopened = ParticipantJournal.Open(_dir.Path);

        Assert.Equal(4, reopened.RecoveredRecords);
        Assert.Equal(0, reopened.TruncatedTailBytes);
        Assert.Equal(new ParticipantTransactionRecord("t1", ParticipantTransactionStatus.Committed, "a", true, null, 100, 120), reopened.Find("t1"));
        Assert.Equal(new ParticipantTransactionRecord("t2", ParticipantTransactionStatus.Prepared, "a", false, "no funds", 110, 110), reopened.Find("t2"));
        Assert.Equal(new ParticipantTransactionRecord("t3", ParticipantTransactionStatus.Aborted, null, null, null, null, 130), reopened.Find("t3"));
    }

    [Fact]
    public void A_torn_last_line_is_cut_off_on_recovery_and_appends_continue_after_it()
    {
        using (var journal = ParticipantJournal.Open(_dir.Path))
        {
            journal.RecordPrepared("t1", "a", ParticipantVote.Commit, 100);
            journal.RecordPrepared("t2", "a", ParticipantVote.Commit, 110);
        }

        var intact = File.ReadAllBytes(_dir.Path);
        var firstLine = Array.IndexOf(intact, (byte)'\n') + 1;
        // The second append was interrupted half way: no newline, part of its JSON.
        File.WriteAllBytes(_dir.Path, intact[..(firstLine + 20)]);

        using (var recovered = ParticipantJournal.Open(_dir.Path))
        {
            Assert.Equal(20, recovered.TruncatedTailBytes);
            Assert.NotNull(recovered.Find("t1"));
            Assert.Null(recovered.Find("t2"));
            recovered.RecordCommitted("t1", 130);
        }

        using var again = ParticipantJournal.Open(_dir.Path);
        Assert.Equal(0, again.TruncatedTailBytes);
        Assert.Equal(ParticipantTransactionStatus.Committed, again.Find("t1")!.Status);
        Assert.Equal(2, again.RecoveredRecords);
    }

    [Fact]
    public void A_complete_last_line_with_a_wrong_checksum_is_a_torn_tail()
    {
        using (var journal = ParticipantJournal.Open(_dir.Path))
        {
            journal.RecordPrepared("t1", "a", ParticipantVote.Commit, 100);
            journal.RecordPrepared("t2", "a", ParticipantVote.Commit, 110);
        }

        var bytes = File.ReadAllBytes(_dir.Path);
        bytes[^5] ^= 0x01;
        File.WriteAllBytes(_dir.Path, bytes);

        using var recovered = ParticipantJournal.Open(_dir.Path);

        Assert.NotNull(recovered.Find("t1"));
        Assert.Null(recovered.Find("t2"));
        Assert.True(recovered.TruncatedTailBytes > 0);
    }

    [Fact]
    public void A_checksum_mismatch_before_the_last_record_is_corruption_and_stops_the_open()
    {
        using (var journal = ParticipantJournal.Open(_dir.Path))
        {
            journal.RecordPrepared("t1", "a", ParticipantVote.Commit, 100);
            journal.RecordPrepared("t2", "a", ParticipantVote.Commit, 110);
        }

        var bytes = File.ReadAllBytes(_dir.Path);
        var text = Encoding.UTF8.GetString(bytes);
        var at = text.IndexOf("t1", StringComparison.Ordinal);
        bytes[at] = (byte)'x';
        File.WriteAllBytes(_dir.Path, bytes);

        Assert.Throws<ParticipantJournalCorruptException>(() => ParticipantJournal.Open(_dir.Path));
        Assert.Equal(bytes, File.ReadAllBytes(_dir.Path));
    }

    [Fact]
    public void In_doubt_lists_only_undecided_commit_votes_prepared_before_the_cutoff()
    {
        using var journal = ParticipantJournal.Open(_dir.Path);
        journal.RecordPrepared("old", "a", ParticipantVote.Commit, 100);
        journal.RecordPrepared("abort-vote", "a", ParticipantVote.Abort("no"), 100);
        journal.RecordPrepared("decided", "a", ParticipantVote.Commit, 100);
        journal.RecordCommitted("decided", 150);
        journal.RecordPrepared("young", "a", ParticipantVote.Commit, 300);

        Assert.Equal(["old"], journal.InDoubt(200).Select(r => r.TransactionId));
    }

    [Fact]
    public void Compaction_keeps_every_live_state_and_forgets_old_finished_transactions_and_abort_votes()
    {
        using (var journal = ParticipantJournal.Open(_dir.Path))
        {
            journal.RecordPrepared("kept", "a", ParticipantVote.Commit, 100);
            journal.RecordPrepared("old", "a", ParticipantVote.Commit, 100);
            journal.RecordCommitted("old", 110);
            journal.RecordPrepared("old-no", "a", ParticipantVote.Abort("no"), 120);
            journal.RecordAborted("recent", 500);
            journal.Compact(forgetFinishedBeforeMs: 400);
            journal.RecordCommitted("kept", 600);
        }

        using var reopened = ParticipantJournal.Open(_dir.Path);

        Assert.Null(reopened.Find("old"));
        Assert.Null(reopened.Find("old-no"));
        Assert.Equal(ParticipantTransactionStatus.Committed, reopened.Find("kept")!.Status);
        Assert.Equal(ParticipantTransactionStatus.Aborted, reopened.Find("recent")!.Status);
        Assert.Equal(3, reopened.RecoveredRecords);
        Assert.False(File.Exists(_dir.Path + ".tmp"));
    }

    [Fact]
    public void Invalid_transaction_ids_are_refused_before_anything_is_written()
    {
        using var journal = ParticipantJournal.Open(_dir.Path);

        Assert.Throws<ArgumentException>(() => journal.RecordPrepared("has space", "a", ParticipantVote.Commit, 1));
        Assert.Throws<ArgumentException>(() => journal.RecordAborted(new string('x', ParticipantJournal.TransactionIdLengthMax + 1), 1));
        Assert.Equal(0, new FileInfo(_dir.Path).Length);
    }
}
