using Wirestack.Device;

var command = DeviceCommandLine.Create(DeviceRunner.RunAsync);
var parse = command.Parse(args);
if (parse.Errors.Count > 0)
{
    // One line naming the option, as scripts expect; --help shows the rest.
    var error = parse.Errors.FirstOrDefault(e => e.Message != DeviceCommandLine.MissingAddress) ?? parse.Errors[0];
    Console.Error.WriteLine($"wirestack-device: {error.Message}");
    return DeviceCommandLine.UsageError;
}
return await parse.InvokeAsync();
