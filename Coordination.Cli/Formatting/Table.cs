namespace Coordination.Cli.Formatting;

/// <summary>Plain aligned text tables: a header row and columns padded to their widest cell, two spaces apart.</summary>
internal static class Table
{
    /// <summary>Cells wider than this are cut with an ellipsis, so one long value cannot push every row off screen.</summary>
    public const int CellWidthMax = 60;

    public static void Write(TextWriter output, IReadOnlyList<string> headers, IEnumerable<IReadOnlyList<string>> rows)
    {
        var lines = new List<IReadOnlyList<string>> { headers };
        lines.AddRange(rows.Select(r => r.Select(Cut).ToList()));
        var widths = headers.Select((_, column) => lines.Max(line => column < line.Count ? line[column].Length : 0)).ToArray();
        foreach (var line in lines)
        {
            var cells = line.Select((cell, column) => column == line.Count - 1 ? cell : cell.PadRight(widths[column]));
            output.WriteLine(string.Join("  ", cells).TrimEnd());
        }
    }

    private static string Cut(string cell) => cell.Length <= CellWidthMax ? cell : string.Concat(cell.AsSpan(0, CellWidthMax - 1), "…");
}
