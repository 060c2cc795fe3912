namespace Coordination.Client.Participants;

/// <summary>
/// Settings of the participant library (<see cref="ParticipantServiceCollectionExtensions.AddTransactionParticipant{T}"/>).
/// Read once at start; <see cref="Validate"/> names the first bad setting.
/// </summary>
public sealed class TransactionParticipantOptions
{
    /// <summary>The journal file (created with its directory). One journal per participant; never share it between processes.</summary>
    public string JournalPath { get; set; } = "";

    /// <summary>
    /// Base URLs of the coordinator's silos, for the in-doubt resolver's <c>GET .../outcome</c>. When null, the resolver
    /// uses an <see cref="ITransactionOutcomeSource"/> or a <see cref="CoordinationClient"/> from DI; with neither it stays idle.
    /// </summary>
    public IList<Uri>? CoordinatorEndpoints { get; set; }

    /// <summary>Whether the in-doubt resolver runs.</summary>
    public bool ResolveInDoubt { get; set; } = true;

    /// <summary>A transaction prepared with a commit vote and not decided for this long is in doubt: the resolver asks the coordinator.</summary>
    public TimeSpan InDoubtAfter { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How often the resolver looks for in-doubt transactions.</summary>
    public TimeSpan ResolveInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Finished (committed or aborted) transactions older than this are forgotten when the journal is compacted at start.</summary>
    public TimeSpan FinishedRetention { get; set; } = TimeSpan.FromDays(7);

    /// <summary>The largest protocol request body accepted (the prepare's work included), in bytes; larger is <c>413</c>.</summary>
    public long RequestBodyBytesMax { get; set; } = 1024 * 1024;

    /// <summary>The clock for journal times and the resolver's schedule; tests pass a manual one.</summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    /// <summary>
    /// Runs after a prepare's vote is journaled and before it is answered (a fault-injection hook: crash tests exit the
    /// process here to leave a durable vote the coordinator never heard). Null in production.
    /// </summary>
    public Func<string, ParticipantVote, Task>? AfterPrepareRecorded { get; set; }

    /// <summary>Runs after a decision (true: commit) is applied and journaled and before it is acknowledged; a fault-injection hook.</summary>
    public Func<string, bool, Task>? AfterDecisionRecorded { get; set; }

    /// <summary>Rejects settings the library cannot work with.</summary>
    /// <exception cref="ArgumentException">The first bad setting.</exception>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(JournalPath))
        {
            throw new ArgumentException("JournalPath is required.", nameof(JournalPath));
        }

        if (InDoubtAfter <= TimeSpan.Zero || ResolveInterval <= TimeSpan.Zero)
        {
            throw new ArgumentException("InDoubtAfter and ResolveInterval must be positive.", nameof(InDoubtAfter));
        }

        if (FinishedRetention <= TimeSpan.Zero)
        {
            throw new ArgumentException("FinishedRetention must be positive.", nameof(FinishedRetention));
        }

        if (RequestBodyBytesMax is < 1024 or > 64 * 1024 * 1024)
        {
            throw new ArgumentException("RequestBodyBytesMax must be within 1 KiB..64 MiB.", nameof(RequestBodyBytesMax));
        }

        foreach (var endpoint in CoordinatorEndpoints ?? [])
        {
            if (!endpoint.IsAbsoluteUri || (endpoint.Scheme != Uri.UriSchemeHttp && endpoint.Scheme != Uri.UriSchemeHttps))
            {
                throw new ArgumentException($"Coordinator endpoint '{endpoint}' is not an absolute http(s) URL.", nameof(CoordinatorEndpoints));
            }
        }
    }
}
