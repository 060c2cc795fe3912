var builder = WebApplication.CreateBuilder(args);
var app = builder.Build();

// Liveness only until the silo host lands (issue 5): the process is up.
app.MapGet("/healthz", () => TypedResults.Ok(new { status = "alive" }));

app.Run();
