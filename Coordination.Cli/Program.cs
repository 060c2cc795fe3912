namespace Coordination.Cli;

/// <summary>The entry point of <c>coord</c> (a named class: the silo's top-level Program owns the global name).</summary>
internal static class Program
{
    public static Task<int> Main(string[] args) => CoordCli.Build().Parse(args).InvokeAsync();
}
