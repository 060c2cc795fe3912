namespace Coordination.Grains;

/// <summary>Reserve the next <paramref name="Count"/> values of counter <paramref name="Name"/>; values start at 1 and are never handed out twice.</summary>
public sealed record ReserveSequence(string Name, int Count = 1) : Command;

/// <summary>The values <paramref name="First"/> .. <paramref name="First"/> + <paramref name="Count"/> - 1 are the caller's alone.</summary>
public sealed record SequenceReserved(string Name, ulong First, int Count) : CommandResult;
