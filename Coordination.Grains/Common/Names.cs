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
        // '/' and ':' let names carry namespaces ("team/app:prod"); a name never starts or ends with '/'.
        if (string.IsNullOrEmpty(name) || name.Length > Limits.NameLengthMax || name[0] == '/' || name[^1] == '/')
        {
            return false;
        }

        foreach (var c in name)
        {
            var allowed = c is (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or (>= '0' and <= '9') or '.' or '_' or '-' or '/' or ':';
            if (!allowed)
            {
                return false;
            }
        }

        return true;
    }
}
