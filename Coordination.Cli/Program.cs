using Coordination.Cli;

return await CoordCli.Build().Parse(args).InvokeAsync();
