namespace Coordination.Grains;

/// <summary>
/// One session. <see cref="Attachments"/> is derived from the grains (rebuilt on restore) and is
/// null while empty, so an idle session costs one small object.
/// </summary>
internal sealed class SessionState(ulong id, long ttlMs, long createdMs, long deadlineMs)
{
    public ulong Id { get; } = id;

    public long TtlMs { get; } = ttlMs;

    public long CreatedMs { get; } = createdMs;

    public long DeadlineMs { get; set; } = deadlineMs;

    public SortedSet<Attachment>? Attachments { get; set; }

    public int AttachmentCount => Attachments?.Count ?? 0;

    public Deadline Expiry => new(DeadlineMs, DeadlineKind.SessionExpiry, "", Id);

    public SessionInfo ToInfo() => new(Id, TtlMs, CreatedMs, DeadlineMs, Attachments is null ? [] : [.. Attachments]);
}
