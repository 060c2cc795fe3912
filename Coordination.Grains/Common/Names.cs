namespace Coordination.Grains;

/// <summary>
/// Grain names and member ids: 1 to <see cref="Limits.NameLengthMax"/> characters from
/// <c>A-Z a-z 0-9 . _ -</c>. The set is small on purpose: names appear in URLs, metrics labels and
/// log lines without escaping, and ordinal order is the same on every replica.
/// </summary>
public static class Names
{
    public static bool IsValid(string? name)
    {
        if (string.IsNullOrEmpty(name) || name.Length > Limits.NameLengthMax)
        {
            return false;
        }

        foreach (var c in name)
        {
            var allowed = c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or (>= '0' and <= '9') or '.' or '_' or '-';
            if (!allowed)
            {
                return false;
            }
        }

        return true;
    }
}
