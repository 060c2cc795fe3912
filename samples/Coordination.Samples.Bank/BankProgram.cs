namespace Coordination.Samples.Bank;

/// <summary>The entry point (named, so tests that also reference the silo's <c>Program</c> see no clash).</summary>
public static class BankProgram
{
    public static async Task<int> Main(string[] args)
    {
        BankSettings settings;
        try
        {
            settings = BankSettings.Parse(args);
        }
        catch (FormatException e)
        {
            await Console.Error.WriteLineAsync($"bank: {e.Message}");
            return 2;
        }

        await using var app = BankApp.Build(settings);
        await app.RunAsync();
        return 0;
    }
}
