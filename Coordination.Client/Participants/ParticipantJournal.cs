using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Coordination.Client.Participants;

/// <summary>Where one transaction stands in a participant's journal.</summary>
public enum ParticipantTransactionStatus
{
    /// <summary>Prepare answered with a vote; no decision received yet (in doubt if the vote was commit).</summary>
    Prepared,

    /// <summary>Commit received and applied.</summary>
    Committed,

    /// <summary>Abort received (possibly before any prepare: a late prepare then votes abort).</summary>
    Aborted,
}

/// <summary>One transaction as the journal remembers it. Times are Unix milliseconds of the participant's clock.</summary>
/// <param name="VotedCommit">The recorded vote: true commit, false abort, null when abort arrived before any prepare.</param>
public sealed record ParticipantTransactionRecord(
    string TransactionId, ParticipantTransactionStatus Status, string? Participant, bool? VotedCommit, string? Reason, long? PreparedMs, long UpdatedMs);

/// <summary>The journal found a damaged record that is not the torn tail of an interrupted append.</summary>
public sealed class ParticipantJournalCorruptException : IOException
{
    public ParticipantJournalCorruptException()
    {
    }

    public ParticipantJournalCorruptException(string message)
        : base(message)
    {
    }

    public ParticipantJournalCorruptException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>
/// A participant's durable memory of the transactions it took part in: an append-only file, one record per
/// line (<c>crc32c-hex SP json LF</c>), each fsynced before the caller answers the coordinator.
/// </summary>
/// <remarks>
/// <para>Records: <c>prepared</c> (with the vote and reason), <c>committed</c>, <c>aborted</c>, per transaction id;
/// the last record of an id is its state. Opening replays the file. A bad record at the very end is the torn tail of
/// an append the process did not finish (it was never answered, so never promised): it is cut off. A bad record
/// followed by a good one is corruption and stops the open with <see cref="ParticipantJournalCorruptException"/>,
/// because skipping it could forget a promise (ARCHITECTURE.md, "Durability").</para>
/// <para>Opening also compacts a journal that holds many superseded records (temporary file + fsync + rename),
/// dropping finished transactions older than the retention it is given.</para>
/// <para>Thread-safe: appends are serialized. Callers serialize the records of one transaction id themselves.</para>
/// </remarks>
public sealed class ParticipantJournal : IDisposable
{
    /// <summary>The longest transaction id (the coordinator's name rule: 128 characters of A-Z a-z 0-9 . _ - : /).</summary>
    public const int TransactionIdLengthMax = 128;

    /// <summary>The longest participant name kept.</summary>
    public const int ParticipantNameLengthMax = 128;

    /// <summary>Abort reasons are cut to this many characters.</summary>
    public const int ReasonLengthMax = 1024;

    /// <summary>The longest line the journal writes or accepts on replay, in bytes, newline included.</summary>
    public const int RecordBytesMax = 8 * 1024;

    /// <summary>The most transactions the journal remembers; a new prepare beyond it is refused until compaction forgets finished ones.</summary>
    public const int TransactionsMax = 1_000_000;

    /// <summary>Opening compacts when the file holds more than this many records beyond one per live transaction.</summary>
    public const int SupersededRecordsBeforeCompaction = 10_000;

    private const int CrcHexLength = 8;

    private readonly Lock _lock = new();
    private readonly Dictionary<string, ParticipantTransactionRecord> _transactions = new(StringComparer.Ordinal);
    private readonly string _path;
    private FileStream _file;
    private Exception? _failed;

    private ParticipantJournal(string path, FileStream file)
    {
        _path = path;
        _file = file;
    }

    /// <summary>How many bytes of a torn tail the last open cut off (0 when the file ended cleanly).</summary>
    public long TruncatedTailBytes { get; private set; }

    /// <summary>How many records the file held when it was opened.</summary>
    public int RecoveredRecords { get; private set; }

    /// <summary>The number of transactions remembered.</summary>
    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _transactions.Count;
            }
        }
    }

    /// <summary>
    /// Opens (creating it and its directory if needed) and replays the journal at <paramref name="path"/>.
    /// </summary>
    /// <param name="forgetFinishedBeforeMs">When compacting, committed and aborted transactions last updated before this are forgotten; null keeps all.</param>
    /// <exception cref="ParticipantJournalCorruptException">A damaged record that is not the tail.</exception>
    public static ParticipantJournal Open(string path, long? forgetFinishedBeforeMs = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var full = Path.GetFullPath(path);
        var directory = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(directory);
        var created = !File.Exists(full);
        var file = new FileStream(full, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.Read, bufferSize: 0);
        if (created)
        {
            DurableFiles.SyncDirectory(directory);
        }

        var journal = new ParticipantJournal(full, file);
        try
        {
            journal.Replay();
            if (journal.RecoveredRecords - journal._transactions.Count > SupersededRecordsBeforeCompaction
                || (forgetFinishedBeforeMs is not null && journal._transactions.Count > TransactionsMax / 2))
            {
                journal.Compact(forgetFinishedBeforeMs);
            }
        }
        catch
        {
            file.Dispose();
            throw;
        }

        return journal;
    }

    /// <summary>
    /// True when <paramref name="id"/> is a transaction id the coordinator could have issued: its name rule
    /// (Coordination.Grains.Names), '/' included but not first or last. A participant that refused ids the
    /// coordinator accepts left such transactions to abort, and then to be delivered their abort forever.
    /// </summary>
    public static bool IsValidTransactionId(string? id) =>
        id is { Length: > 0 and <= TransactionIdLengthMax } && id[0] != '/' && id[^1] != '/'
        && id.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-' or ':' or '/');

    /// <summary>What the journal remembers of <paramref name="transactionId"/>, or null.</summary>
    public ParticipantTransactionRecord? Find(string transactionId)
    {
        lock (_lock)
        {
            return _transactions.GetValueOrDefault(transactionId);
        }
    }

    /// <summary>Every remembered transaction, in no particular order.</summary>
    public IReadOnlyList<ParticipantTransactionRecord> All()
    {
        lock (_lock)
        {
            return [.. _transactions.Values];
        }
    }

    /// <summary>Transactions that voted commit, are not decided, and were prepared at or before <paramref name="preparedAtOrBeforeMs"/>.</summary>
    public IReadOnlyList<ParticipantTransactionRecord> InDoubt(long preparedAtOrBeforeMs)
    {
        lock (_lock)
        {
            return [.. _transactions.Values
                .Where(t => t.Status == ParticipantTransactionStatus.Prepared && t.VotedCommit == true && t.PreparedMs <= preparedAtOrBeforeMs)
                .OrderBy(t => t.PreparedMs)];
        }
    }

    /// <summary>Durably records the vote of a prepare. Returns once the record is fsynced.</summary>
    /// <exception cref="InvalidOperationException">The journal already remembers <see cref="TransactionsMax"/> transactions.</exception>
    public ParticipantTransactionRecord RecordPrepared(string transactionId, string? participant, ParticipantVote vote, long nowMs)
    {
        ArgumentNullException.ThrowIfNull(vote);
        var record = new ParticipantTransactionRecord(transactionId, ParticipantTransactionStatus.Prepared, Cut(participant, ParticipantNameLengthMax), vote.IsCommit, vote.Reason, nowMs, nowMs);
        return Append(record, new JournalLine("prepared", transactionId, record.Participant, vote.IsCommit ? "commit" : "abort", vote.Reason, nowMs), isNew: true);
    }

    /// <summary>Durably records that commit was applied.</summary>
    public ParticipantTransactionRecord RecordCommitted(string transactionId, long nowMs) =>
        RecordDecision(transactionId, ParticipantTransactionStatus.Committed, "committed", nowMs);

    /// <summary>Durably records that abort was received (also for a transaction never prepared).</summary>
    public ParticipantTransactionRecord RecordAborted(string transactionId, long nowMs) =>
        RecordDecision(transactionId, ParticipantTransactionStatus.Aborted, "aborted", nowMs);

    /// <summary>
    /// Rewrites the journal with one record per remembered transaction (temporary file + fsync + rename + directory fsync),
    /// forgetting committed and aborted transactions, and abort votes, last updated before <paramref name="forgetFinishedBeforeMs"/>.
    /// </summary>
    public void Compact(long? forgetFinishedBeforeMs)
    {
        lock (_lock)
        {
            if (forgetFinishedBeforeMs is { } before)
            {
                // An abort vote is final too: the coordinator counts it as this participant's acknowledgement and sends no abort.
                foreach (var gone in _transactions.Values.Where(t => (t.Status != ParticipantTransactionStatus.Prepared || t.VotedCommit == false) && t.UpdatedMs < before).ToList())
                {
                    _transactions.Remove(gone.TransactionId);
                }
            }

            using var buffer = new MemoryStream();
            foreach (var t in _transactions.Values.OrderBy(t => t.UpdatedMs))
            {
                if (t.VotedCommit is { } commit)
                {
                    buffer.Write(Encode(new JournalLine("prepared", t.TransactionId, t.Participant, commit ? "commit" : "abort", t.Reason, t.PreparedMs ?? t.UpdatedMs)));
                }

                if (t.Status != ParticipantTransactionStatus.Prepared)
                {
                    buffer.Write(Encode(new JournalLine(t.Status == ParticipantTransactionStatus.Committed ? "committed" : "aborted", t.TransactionId, null, null, null, t.UpdatedMs)));
                }
            }

            _file.Dispose();
            DurableFiles.ReplaceAtomically(_path, buffer.GetBuffer().AsSpan(0, (int)buffer.Length));
            _file = new FileStream(_path, FileMode.Open, FileAccess.ReadWrite, FileShare.Read, bufferSize: 0);
            _file.Seek(0, SeekOrigin.End);
        }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            _file.Dispose();
        }
    }

    private ParticipantTransactionRecord RecordDecision(string transactionId, ParticipantTransactionStatus status, string kind, long nowMs)
    {
        ParticipantTransactionRecord record;
        lock (_lock)
        {
            var known = _transactions.GetValueOrDefault(transactionId);
            record = known is null
                ? new ParticipantTransactionRecord(transactionId, status, null, null, null, null, nowMs)
                : known with { Status = status, UpdatedMs = nowMs };
        }

        return Append(record, new JournalLine(kind, transactionId, null, null, null, nowMs), isNew: record.PreparedMs is null);
    }

    private ParticipantTransactionRecord Append(ParticipantTransactionRecord record, JournalLine line, bool isNew)
    {
        if (!IsValidTransactionId(record.TransactionId))
        {
            throw new ArgumentException($"'{record.TransactionId}' is not a valid transaction id.", nameof(record));
        }

        var bytes = Encode(line);
        lock (_lock)
        {
            if (isNew && !_transactions.ContainsKey(record.TransactionId) && _transactions.Count >= TransactionsMax)
            {
                throw new InvalidOperationException($"The participant journal remembers {TransactionsMax} transactions (TransactionsMax); restart to compact it.");
            }

            if (_failed is not null)
            {
                throw new IOException($"The participant journal {_path} failed earlier; restart the process to recover it.", _failed);
            }

            try
            {
                _file.Write(bytes);
                // The answer to the coordinator is a promise; it may leave only once the record is on disk.
                _file.Flush(flushToDisk: true);
            }
            catch (Exception e)
            {
                // After a failed write or fsync the file's tail is unknown ("fsyncgate"): appending after it could
                // bury a torn record in the middle. Refuse every later append; recovery on restart cuts the tail.
                _failed = e;
                throw;
            }

            _transactions[record.TransactionId] = record;
        }

        return record;
    }

    private static byte[] Encode(JournalLine line)
    {
        var json = JsonSerializer.SerializeToUtf8Bytes(line, ParticipantJsonContext.Default.JournalLine);
        var bytes = new byte[CrcHexLength + 1 + json.Length + 1];
        Encoding.ASCII.GetBytes(Crc32C.Compute(json).ToString("x8", CultureInfo.InvariantCulture), bytes);
        bytes[CrcHexLength] = (byte)' ';
        json.CopyTo(bytes, CrcHexLength + 1);
        bytes[^1] = (byte)'\n';
        if (bytes.Length > RecordBytesMax)
        {
            throw new ArgumentException($"A journal record may hold at most {RecordBytesMax} bytes (RecordBytesMax).", nameof(line));
        }

        return bytes;
    }

    private void Replay()
    {
        var length = _file.Length;
        var content = new byte[length];
        _file.Seek(0, SeekOrigin.Begin);
        _file.ReadExactly(content);
        var span = content.AsSpan();
        long offset = 0;
        while (offset < length)
        {
            var rest = span[(int)offset..];
            var newline = rest.IndexOf((byte)'\n');
            var lineLength = newline < 0 ? rest.Length : newline;
            var line = Decode(rest[..lineLength], newline >= 0);
            if (line is null)
            {
                var next = offset + lineLength + 1;
                if (newline >= 0 && HasRecordAfter(span, next))
                {
                    throw new ParticipantJournalCorruptException($"Participant journal {_path}: the record at byte {offset} is damaged and records follow it.");
                }

                // The torn tail of an append that was never acknowledged: cut it off.
                TruncatedTailBytes = length - offset;
                _file.SetLength(offset);
                _file.Flush(flushToDisk: true);
                break;
            }

            Apply(line);
            RecoveredRecords++;
            offset += lineLength + 1;
        }

        _file.Seek(0, SeekOrigin.End);
    }

    private static bool HasRecordAfter(ReadOnlySpan<byte> content, long from) =>
        from < content.Length && content[(int)from..].IndexOfAnyExcept((byte)0, (byte)'\n') >= 0;

    private static JournalLine? Decode(ReadOnlySpan<byte> line, bool terminated)
    {
        if (!terminated || line.Length < CrcHexLength + 2 || line.Length + 1 > RecordBytesMax || line[CrcHexLength] != (byte)' ')
        {
            return null;
        }

        if (!uint.TryParse(Encoding.ASCII.GetString(line[..CrcHexLength]), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var stored))
        {
            return null;
        }

        var json = line[(CrcHexLength + 1)..];
        if (Crc32C.Compute(json) != stored)
        {
            return null;
        }

        try
        {
            var decoded = JsonSerializer.Deserialize(json, ParticipantJsonContext.Default.JournalLine);
            return decoded is { Id: { } id } && IsValidTransactionId(id) && decoded.Kind is "prepared" or "committed" or "aborted" ? decoded : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private void Apply(JournalLine line)
    {
        var known = _transactions.GetValueOrDefault(line.Id);
        _transactions[line.Id] = line.Kind switch
        {
            "prepared" => new ParticipantTransactionRecord(line.Id, ParticipantTransactionStatus.Prepared, line.Participant, line.Vote == "commit", line.Reason, line.Ms, line.Ms),
            "committed" => (known ?? new ParticipantTransactionRecord(line.Id, ParticipantTransactionStatus.Committed, null, null, null, null, line.Ms)) with { Status = ParticipantTransactionStatus.Committed, UpdatedMs = line.Ms },
            _ => (known ?? new ParticipantTransactionRecord(line.Id, ParticipantTransactionStatus.Aborted, null, null, null, null, line.Ms)) with { Status = ParticipantTransactionStatus.Aborted, UpdatedMs = line.Ms },
        };
    }

    private static string? Cut(string? text, int max) => text is null || text.Length <= max ? text : text[..max];
}

/// <summary>One journal record as JSON (short names keep lines small).</summary>
internal sealed record JournalLine(
    [property: JsonPropertyName("k")] string Kind,
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("p")] string? Participant,
    [property: JsonPropertyName("v")] string? Vote,
    [property: JsonPropertyName("r")] string? Reason,
    [property: JsonPropertyName("ms")] long Ms);
