namespace Coordination.Grains;

/// <summary>
/// Join election <paramref name="Name"/> as a candidate with <paramref name="Value"/> (for example
/// the candidate's address). The first candidate leads; the others wait in FIFO order.
/// </summary>
public sealed record Campaign(string Name, ulong SessionId, byte[] Value) : Command;

/// <summary>The leader replaces its value; proven by its term <paramref name="Token"/>.</summary>
public sealed record Proclaim(string Name, ulong Token, byte[] Value) : Command;

/// <summary>Withdraw the session's candidacy; if it led, the next candidate leads in the same step.</summary>
public sealed record Resign(string Name, ulong SessionId) : Command;

/// <summary>The session leads with term <paramref name="Token"/>: the log index at which it became leader.</summary>
public sealed record LeaderElected(string Name, ulong Token) : CommandResult;

/// <summary>The session waits behind the leader at <paramref name="Position"/> (1 = next).</summary>
public sealed record CandidateQueued(string Name, int Position) : CommandResult;

public sealed record LeaderProclaimed(string Name, ulong Token) : CommandResult;

public sealed record CandidacyWithdrawn(string Name, bool WasLeader) : CommandResult;

/// <summary>A candidate; the first in the list is the leader.</summary>
public sealed record Candidate(ulong SessionId, byte[] Value, long JoinedMs);

/// <summary>An election: the leader (null for no leader), its term token and since when, and every candidate in order.</summary>
public sealed record ElectionInfo(string Name, Candidate? Leader, ulong LeaderToken, long LeaderSinceMs, IReadOnlyList<Candidate> Candidates);
