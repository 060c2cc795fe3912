using System.Collections.Concurrent;
using System.Text.Json;
using Coordination.Client.Participants;

namespace Coordination.Tests.Participants;

/// <summary>An application participant that records every call and votes as scripted (commit unless the work says <c>"abort"</c>).</summary>
internal sealed class RecordingParticipant : ITransactionParticipant
{
    public ConcurrentQueue<string> Calls { get; } = new();

    public Task<ParticipantVote> PrepareAsync(string transactionId, JsonElement work, CancellationToken cancellationToken)
    {
        Calls.Enqueue($"prepare {transactionId}");
        return Task.FromResult(work.ValueKind == JsonValueKind.String && work.GetString() == "abort" ? ParticipantVote.Abort("scripted") : ParticipantVote.Commit);
    }

    public Task CommitAsync(string transactionId, CancellationToken cancellationToken)
    {
        Calls.Enqueue($"commit {transactionId}");
        return Task.CompletedTask;
    }

    public Task AbortAsync(string transactionId, CancellationToken cancellationToken)
    {
        Calls.Enqueue($"abort {transactionId}");
        return Task.CompletedTask;
    }
}

/// <summary>A journal file in a fresh temporary directory, deleted when disposed.</summary>
internal sealed class TempJournal : IDisposable
{
    public TempJournal()
    {
        Directory.CreateDirectory(DirectoryPath);
    }

    public string DirectoryPath { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "coord-participant-" + Guid.NewGuid().ToString("N"));

    public string Path => System.IO.Path.Combine(DirectoryPath, "journal.log");

    public void Dispose()
    {
        try
        {
            Directory.Delete(DirectoryPath, recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
        }
    }
}
