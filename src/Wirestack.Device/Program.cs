using Wirestack.Device;

var command = DeviceCommandLine.Create(DeviceRunner.RunAsync);
var parse = command.Parse(args);
if (parse.Errors.Count > 0)
{
    // One line naming the option, as scripts expect; --help shows the rest.
    Console.Error.WriteLine($"wirestack-device: {parse.Errors[0].Message}");
    return DeviceCommandLine.UsageError;
}
return await parse.InvokeAsync();
