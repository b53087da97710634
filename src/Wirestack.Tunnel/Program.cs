using Wirestack.Tunnel;

var command = TunnelCommandLine.Create(TunnelRunner.RunAsync);
var parse = command.Parse(args);
if (parse.Errors.Count > 0)
{
    // One line naming the option, as scripts expect; --help shows the rest.
    Console.Error.WriteLine($"wirestack-tunnel: {parse.Errors[0].Message}");
    return TunnelCommandLine.UsageError;
}
return await parse.InvokeAsync();
