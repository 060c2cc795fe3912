using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Xml.Linq;

namespace Coordination.Silo.Backup;

/// <summary>Where backups go: a Blob Storage account, its key and the container.</summary>
/// <param name="ServiceUri">The blob endpoint: <c>https://account.blob.core.windows.net</c>, or Azurite's <c>http://127.0.0.1:10000/devstoreaccount1</c>.</param>
/// <param name="AccountName">The storage account.</param>
/// <param name="AccountKey">The account key, base64 as the portal shows it.</param>
/// <param name="Container">The container that holds the backups (lower case, 3..63 characters).</param>
public sealed record AzureBlobBackupOptions(Uri ServiceUri, string AccountName, string AccountKey, string Container)
{
    /// <summary>Contents larger than this are uploaded as blocks of this size and committed together.</summary>
    public int BlockBytes { get; init; } = 8 * 1024 * 1024;

    /// <summary>
    /// Reads an Azure Storage connection string
    /// (<c>DefaultEndpointsProtocol=https;AccountName=..;AccountKey=..;EndpointSuffix=core.windows.net</c>,
    /// or with an explicit <c>BlobEndpoint=..</c>).
    /// </summary>
    public static AzureBlobBackupOptions FromConnectionString(string connectionString, string container)
    {
        var parts = connectionString.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(p => p.Split('=', 2))
            .Where(p => p.Length == 2)
            .ToDictionary(p => p[0], p => p[1], StringComparer.OrdinalIgnoreCase);
        if (!parts.TryGetValue("AccountName", out var account) || !parts.TryGetValue("AccountKey", out var key))
        {
            throw new ArgumentException("The connection string needs AccountName and AccountKey (SharedKey authentication).");
        }

        var endpoint = parts.TryGetValue("BlobEndpoint", out var blob)
            ? new Uri(blob)
            : new Uri($"{parts.GetValueOrDefault("DefaultEndpointsProtocol", "https")}://{account}.blob.{parts.GetValueOrDefault("EndpointSuffix", "core.windows.net")}");
        return new AzureBlobBackupOptions(endpoint, account, key, container);
    }
}

/// <summary>One blob of a listing.</summary>
public sealed record BlobItem(string Name, long Length, DateTimeOffset LastModified);

/// <summary>A Blob Storage request that failed: the HTTP status and Azure's error code.</summary>
public sealed class AzureBlobException(HttpStatusCode status, string? errorCode, string message) : Exception(message)
{
    public HttpStatusCode Status { get; } = status;

    public string? ErrorCode { get; } = errorCode;
}

/// <summary>
/// Backups in Azure Blob Storage over its REST API with SharedKey authentication, HttpClient only
/// (the Azure SDK does not restore from this project's package source). Uploads carry Content-MD5,
/// so the service rejects a corrupted transfer; downloads check the stored MD5 before returning.
/// </summary>
public sealed class AzureBlobBackup
{
    /// <summary>The REST API version every request names (supported by Azure and by Azurite 3.35).</summary>
    public const string ApiVersion = "2023-11-03";

    private readonly HttpClient _http;
    private readonly AzureBlobBackupOptions _options;
    private readonly byte[] _key;

    /// <param name="http">Used for every request; the caller owns it (an IHttpClientFactory client is fine).</param>
    public AzureBlobBackup(HttpClient http, AzureBlobBackupOptions options)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(options.BlockBytes, 1);
        _http = http;
        _options = options;
        _key = Convert.FromBase64String(options.AccountKey);
    }

    /// <summary>Creates the container unless it exists; true when it was created.</summary>
    public async Task<bool> CreateContainerIfNotExistsAsync(CancellationToken cancellation = default)
    {
        using var request = Request(HttpMethod.Put, ContainerUri("restype=container"));
        using var response = await SendAsync(request, cancellation, HttpStatusCode.Created, HttpStatusCode.Conflict);
        return response.StatusCode == HttpStatusCode.Created;
    }

    /// <summary>
    /// Uploads <paramref name="content"/> to blob <paramref name="name"/>, replacing it. Content up to
    /// <see cref="AzureBlobBackupOptions.BlockBytes"/> is one Put Blob; larger content is staged block
    /// by block (each with its MD5) and committed with the MD5 of the whole, so a reader sees the old
    /// blob or the complete new one, never a part.
    /// </summary>
    public async Task UploadAsync(string name, Stream content, CancellationToken cancellation = default)
    {
        var buffer = new byte[_options.BlockBytes];
        var first = await ReadBlockAsync(content, buffer, cancellation);
        if (first < buffer.Length)
        {
            using var put = Request(HttpMethod.Put, BlobUri(name), Body(buffer.AsMemory(0, first)));
            put.Headers.Add("x-ms-blob-type", "BlockBlob");
            using var _ = await SendAsync(put, cancellation, HttpStatusCode.Created);
            return;
        }

        using var whole = IncrementalHash.CreateHash(HashAlgorithmName.MD5);
        var blocks = new List<string>();
        for (var read = first; read > 0; read = await ReadBlockAsync(content, buffer, cancellation))
        {
            whole.AppendData(buffer, 0, read);
            var id = Convert.ToBase64String(Encoding.ASCII.GetBytes(blocks.Count.ToString("D8", CultureInfo.InvariantCulture)));
            using var block = Request(HttpMethod.Put, BlobUri(name, $"comp=block&blockid={Uri.EscapeDataString(id)}"), Body(buffer.AsMemory(0, read)));
            using var _ = await SendAsync(block, cancellation, HttpStatusCode.Created);
            blocks.Add(id);
        }

        var list = new XElement("BlockList", blocks.Select(id => new XElement("Latest", id)));
        var xml = Encoding.UTF8.GetBytes(list.ToString(SaveOptions.DisableFormatting));
        using var commit = Request(HttpMethod.Put, BlobUri(name, "comp=blocklist"), Body(xml, "application/xml"));
        commit.Headers.Add("x-ms-blob-content-md5", Convert.ToBase64String(whole.GetHashAndReset()));
        commit.Headers.Add("x-ms-blob-content-type", "application/octet-stream");
        using var committed = await SendAsync(commit, cancellation, HttpStatusCode.Created);
    }

    /// <summary>
    /// Downloads blob <paramref name="name"/> into <paramref name="destination"/>. The MD5 is checked
    /// when the blob has one (every blob this class uploads does): a mismatch throws <see cref="InvalidDataException"/>.
    /// </summary>
    /// <returns>The bytes written and whether an MD5 was there to check.</returns>
    public async Task<(long Length, bool Md5Checked)> DownloadAsync(string name, Stream destination, CancellationToken cancellation = default)
    {
        using var request = Request(HttpMethod.Get, BlobUri(name));
        using var response = await SendAsync(request, cancellation, HttpStatusCode.OK);
        var expected = response.Content.Headers.ContentMD5
            ?? (response.Headers.TryGetValues("x-ms-blob-content-md5", out var values) ? Convert.FromBase64String(values.First()) : null);
        using var md5 = IncrementalHash.CreateHash(HashAlgorithmName.MD5);
        await using var body = await response.Content.ReadAsStreamAsync(cancellation);
        var buffer = new byte[81920];
        var length = 0L;
        int read;
        while ((read = await body.ReadAsync(buffer, cancellation)) > 0)
        {
            md5.AppendData(buffer, 0, read);
            await destination.WriteAsync(buffer.AsMemory(0, read), cancellation);
            length += read;
        }

        if (expected is not null && !md5.GetHashAndReset().AsSpan().SequenceEqual(expected))
        {
            throw new InvalidDataException($"blob {name} does not match its stored MD5");
        }

        return (length, expected is not null);
    }

    /// <summary>Every blob whose name starts with <paramref name="prefix"/>, in name order, following continuation markers.</summary>
    /// <param name="pageSize">Blobs per List Blobs request (the service's default is 5000).</param>
    public async Task<IReadOnlyList<BlobItem>> ListAsync(string prefix = "", int? pageSize = null, CancellationToken cancellation = default)
    {
        var items = new List<BlobItem>();
        var marker = "";
        do
        {
            var query = "restype=container&comp=list"
                + (prefix.Length > 0 ? $"&prefix={Uri.EscapeDataString(prefix)}" : "")
                + (pageSize is { } size ? $"&maxresults={size.ToString(CultureInfo.InvariantCulture)}" : "")
                + (marker.Length > 0 ? $"&marker={Uri.EscapeDataString(marker)}" : "");
            using var request = Request(HttpMethod.Get, ContainerUri(query));
            using var response = await SendAsync(request, cancellation, HttpStatusCode.OK);
            var document = XDocument.Parse(await response.Content.ReadAsStringAsync(cancellation));
            foreach (var blob in document.Root?.Element("Blobs")?.Elements("Blob") ?? [])
            {
                var properties = blob.Element("Properties");
                items.Add(new BlobItem(
                    (string?)blob.Element("Name") ?? "",
                    long.Parse((string?)properties?.Element("Content-Length") ?? "0", CultureInfo.InvariantCulture),
                    DateTimeOffset.Parse((string?)properties?.Element("Last-Modified") ?? "", CultureInfo.InvariantCulture)));
            }

            marker = (string?)document.Root?.Element("NextMarker") ?? "";
        }
        while (marker.Length > 0);

        return items;
    }

    /// <summary>Deletes blob <paramref name="name"/>; false when it did not exist.</summary>
    public async Task<bool> DeleteAsync(string name, CancellationToken cancellation = default)
    {
        using var request = Request(HttpMethod.Delete, BlobUri(name));
        using var response = await SendAsync(request, cancellation, HttpStatusCode.Accepted, HttpStatusCode.NotFound);
        return response.StatusCode == HttpStatusCode.Accepted;
    }

    /// <summary>
    /// The SharedKey string to sign for a Blob service request (version 2015-02-21 and later):
    /// the verb, eleven standard headers (an empty Content-Length when zero), the x-ms- headers in
    /// order, then the account, path and query parameters.
    /// https://learn.microsoft.com/rest/api/storageservices/authorize-with-shared-key
    /// </summary>
    internal static string StringToSign(HttpRequestMessage request, string accountName)
    {
        var content = request.Content?.Headers;
        var length = content?.ContentLength is > 0 ? content.ContentLength.Value.ToString(CultureInfo.InvariantCulture) : "";
        var text = new StringBuilder()
            .Append(request.Method.Method).Append('\n')
            .Append(Join(content?.ContentEncoding)).Append('\n')
            .Append(Join(content?.ContentLanguage)).Append('\n')
            .Append(length).Append('\n')
            .Append(content?.ContentMD5 is { } md5 ? Convert.ToBase64String(md5) : "").Append('\n')
            .Append(content?.ContentType?.ToString() ?? "").Append('\n')
            .Append('\n') // Date: x-ms-date is sent instead
            .Append(Header(request, "If-Modified-Since")).Append('\n')
            .Append(Header(request, "If-Match")).Append('\n')
            .Append(Header(request, "If-None-Match")).Append('\n')
            .Append(Header(request, "If-Unmodified-Since")).Append('\n')
            .Append(Header(request, "Range")).Append('\n');

        foreach (var header in request.Headers
            .Where(h => h.Key.StartsWith("x-ms-", StringComparison.OrdinalIgnoreCase))
            .Select(h => (Name: h.Key.ToLowerInvariant(), Value: string.Join(',', h.Value.Select(Collapse))))
            .OrderBy(h => h.Name, StringComparer.Ordinal))
        {
            text.Append(header.Name).Append(':').Append(header.Value).Append('\n');
        }

        var uri = request.RequestUri!;
        text.Append('/').Append(accountName).Append(uri.AbsolutePath);
        var query = uri.Query.TrimStart('?').Split('&', StringSplitOptions.RemoveEmptyEntries)
            .Select(p => p.Split('=', 2))
            .GroupBy(p => Uri.UnescapeDataString(p[0]).ToLowerInvariant(), p => p.Length == 2 ? Uri.UnescapeDataString(p[1]) : "")
            .OrderBy(g => g.Key, StringComparer.Ordinal);
        foreach (var parameter in query)
        {
            text.Append('\n').Append(parameter.Key).Append(':').Append(string.Join(',', parameter.Order(StringComparer.Ordinal)));
        }

        return text.ToString();

        static string Join(ICollection<string>? values) => values is null ? "" : string.Join(',', values);

        static string Header(HttpRequestMessage request, string name) =>
            request.Headers.TryGetValues(name, out var values) ? string.Join(',', values) : "";

        static string Collapse(string value) => string.Join(' ', value.Split(' ', StringSplitOptions.RemoveEmptyEntries));
    }

    private static async Task<int> ReadBlockAsync(Stream content, byte[] buffer, CancellationToken cancellation)
    {
        var total = 0;
        int read;
        while (total < buffer.Length && (read = await content.ReadAsync(buffer.AsMemory(total), cancellation)) > 0)
        {
            total += read;
        }

        return total;
    }

    private static ByteArrayContent Body(ReadOnlyMemory<byte> bytes, string contentType = "application/octet-stream")
    {
        var content = new ByteArrayContent(bytes.ToArray());
        content.Headers.ContentType = new MediaTypeHeaderValue(contentType);
        content.Headers.ContentMD5 = MD5.HashData(bytes.Span);
        return content;
    }

    private Uri ContainerUri(string query) => new($"{_options.ServiceUri.AbsoluteUri.TrimEnd('/')}/{_options.Container}?{query}");

    private Uri BlobUri(string name, string? query = null)
    {
        if (string.IsNullOrEmpty(name) || name.Length > 1024)
        {
            throw new ArgumentException("A blob name is 1..1024 characters.", nameof(name));
        }

        var path = string.Join('/', name.Split('/').Select(Uri.EscapeDataString));
        return new($"{_options.ServiceUri.AbsoluteUri.TrimEnd('/')}/{_options.Container}/{path}{(query is null ? "" : "?" + query)}");
    }

    private HttpRequestMessage Request(HttpMethod method, Uri uri, HttpContent? content = null)
    {
        var request = new HttpRequestMessage(method, uri) { Content = content };
        request.Headers.Add("x-ms-date", DateTimeOffset.UtcNow.ToString("R", CultureInfo.InvariantCulture));
        request.Headers.Add("x-ms-version", ApiVersion);
        return request;
    }

    private async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellation, params HttpStatusCode[] expected)
    {
        var signature = Convert.ToBase64String(HMACSHA256.HashData(_key, Encoding.UTF8.GetBytes(StringToSign(request, _options.AccountName))));
        request.Headers.Authorization = new AuthenticationHeaderValue("SharedKey", $"{_options.AccountName}:{signature}");
        var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellation);
        if (expected.Contains(response.StatusCode))
        {
            return response;
        }

        using (response)
        {
            var body = await response.Content.ReadAsStringAsync(cancellation);
            var code = response.Headers.TryGetValues("x-ms-error-code", out var codes) ? codes.First() : null;
            throw new AzureBlobException(response.StatusCode, code, $"{request.Method} {request.RequestUri!.AbsolutePath}: {(int)response.StatusCode} {code} {body}".TrimEnd());
        }
    }
}
