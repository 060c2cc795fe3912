using System.Text.RegularExpressions;

namespace Coordination.Tests.Deploy;

/// <summary>
/// A reader for the YAML subset the manifests in deploy/k8s use (no YAML package is available):
/// documents separated by <c>---</c>, block mappings, block sequences (including <c>- key: value</c>
/// items and sequences at their key's indentation), plain and quoted scalars, <c>[]</c> and <c>{}</c>,
/// and comments. Anything else (anchors, flow collections with content, block scalars, tabs) is
/// rejected with its line number, so a manifest cannot silently step outside what is checked.
/// Mappings are <see cref="Dictionary{TKey, TValue}"/>, sequences <see cref="List{T}"/>, scalars strings.
/// </summary>
internal static partial class SimpleYaml
{
    public static IReadOnlyList<Dictionary<string, object?>> ReadDocuments(string text, string source)
    {
        var documents = new List<Dictionary<string, object?>>();
        var lines = new List<Line>();
        var number = 0;
        foreach (var raw in text.Split('\n'))
        {
            number++;
            var line = raw.TrimEnd('\r');
            if (line.Contains('\t', StringComparison.Ordinal))
            {
                throw Error(source, number, "tab character");
            }

            if (line.TrimEnd() == "---")
            {
                Flush();
                continue;
            }

            var content = StripComment(line).TrimEnd();
            if (content.Trim().Length == 0)
            {
                continue;
            }

            var indent = content.Length - content.TrimStart().Length;
            lines.Add(new Line(number, indent, content.Trim()));
        }

        Flush();
        return documents;

        void Flush()
        {
            if (lines.Count == 0)
            {
                return;
            }

            var reader = new Reader(lines, source);
            var node = reader.Node(lines[0].Indent);
            if (reader.Position != lines.Count)
            {
                throw Error(source, lines[reader.Position].Number, "unexpected indentation");
            }

            documents.Add(node as Dictionary<string, object?> ?? throw Error(source, lines[0].Number, "a document must be a mapping"));
            lines = [];
        }
    }

    /// <summary>The node at a path of keys and sequence indexes, or null when any step is missing.</summary>
    public static object? At(this object? node, params object[] path)
    {
        foreach (var step in path)
        {
            node = (node, step) switch
            {
                (Dictionary<string, object?> map, string key) => map.GetValueOrDefault(key),
                (List<object?> list, int index) when index < list.Count => list[index],
                _ => null,
            };
        }

        return node;
    }

    public static string? Text(this object? node, params object[] path) => node.At(path) as string;

    public static Dictionary<string, object?> Map(this object? node, params object[] path) =>
        node.At(path) as Dictionary<string, object?> ?? throw new KeyNotFoundException($"no mapping at {string.Join('.', path)}");

    public static List<object?> Seq(this object? node, params object[] path) =>
        node.At(path) as List<object?> ?? throw new KeyNotFoundException($"no sequence at {string.Join('.', path)}");

    /// <summary>A mapping of scalars (labels, selectors) as string pairs.</summary>
    public static Dictionary<string, string> Labels(this object? node, params object[] path) =>
        node.Map(path).ToDictionary(p => p.Key, p => p.Value as string ?? throw new FormatException($"{p.Key} is not a scalar"));

    private static string StripComment(string line)
    {
        char quote = '\0';
        for (var i = 0; i < line.Length; i++)
        {
            var c = line[i];
            if (quote != '\0')
            {
                quote = c == quote ? '\0' : quote;
            }
            else if (c is '"' or '\'')
            {
                quote = c;
            }
            else if (c == '#' && (i == 0 || line[i - 1] == ' '))
            {
                return line[..i];
            }
        }

        return line;
    }

    private static FormatException Error(string source, int line, string what) => new($"{source}:{line}: {what} (outside the YAML subset SimpleYaml reads)");

    [GeneratedRegex("""^(?<key>[A-Za-z0-9_./-]+|"[^"]*"):(?: (?<value>.*))?$""")]
    private static partial Regex KeyPattern();

    private sealed record Line(int Number, int Indent, string Text);

    private sealed class Reader(List<Line> lines, string source)
    {
        public int Position { get; private set; }

        public object? Node(int indent)
        {
            var line = lines[Position];
            if (line.Indent != indent)
            {
                throw Error(source, line.Number, "unexpected indentation");
            }

            if (IsItem(line.Text))
            {
                return Sequence(indent);
            }

            if (KeyPattern().IsMatch(line.Text))
            {
                return Mapping(indent);
            }

            Position++;
            return Scalar(line);
        }

        private static bool IsItem(string text) => text == "-" || text.StartsWith("- ", StringComparison.Ordinal);

        private List<object?> Sequence(int indent)
        {
            var items = new List<object?>();
            while (Position < lines.Count && lines[Position].Indent == indent && IsItem(lines[Position].Text))
            {
                var line = lines[Position];
                var rest = line.Text.Length > 1 ? line.Text[2..].TrimStart() : "";
                if (rest.Length == 0)
                {
                    Position++;
                    items.Add(Position < lines.Count && lines[Position].Indent > indent ? Node(lines[Position].Indent) : null);
                    continue;
                }

                // "- key: value" starts a mapping (or "- - x" a sequence) at the column after the dash.
                var column = indent + (line.Text.Length - rest.Length);
                lines[Position] = new Line(line.Number, column, rest);
                items.Add(Node(column));
            }

            return items;
        }

        private Dictionary<string, object?> Mapping(int indent)
        {
            var map = new Dictionary<string, object?>(StringComparer.Ordinal);
            while (Position < lines.Count && lines[Position].Indent == indent && !IsItem(lines[Position].Text))
            {
                var line = lines[Position];
                var match = KeyPattern().Match(line.Text);
                if (!match.Success)
                {
                    throw Error(source, line.Number, "expected key: value");
                }

                var key = Unquote(match.Groups["key"].Value);
                if (map.ContainsKey(key))
                {
                    throw Error(source, line.Number, $"duplicate key {key}");
                }

                var value = match.Groups["value"].Value.Trim();
                Position++;
                if (value.Length > 0)
                {
                    map[key] = Scalar(line with { Text = value });
                }
                else if (Position < lines.Count && lines[Position].Indent > indent)
                {
                    map[key] = Node(lines[Position].Indent);
                }
                else if (Position < lines.Count && lines[Position].Indent == indent && IsItem(lines[Position].Text))
                {
                    map[key] = Sequence(indent);
                }
                else
                {
                    map[key] = null;
                }
            }

            return map;
        }

        private object Scalar(Line line)
        {
            var text = line.Text;
            switch (text)
            {
                case "[]":
                    return new List<object?>();
                case "{}":
                    return new Dictionary<string, object?>(StringComparer.Ordinal);
            }

            if (text[0] is '[' or '{' or '&' or '*' or '|' or '>' or '!' or '%' or '@' or '`')
            {
                throw Error(source, line.Number, $"unsupported value {text}");
            }

            return Unquote(text);
        }
    }

    private static string Unquote(string text) =>
        text.Length >= 2 && (text[0] == '"' || text[0] == '\'') && text[^1] == text[0] ? text[1..^1] : text;
}
