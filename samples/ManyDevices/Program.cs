// Many devices in one process: one Wirestack stack per TAP interface, each its own host on a bridge, with its own
// MAC and address, answering ping and serving a one-line TCP greeting on port 7. Prints what each stack costs.
//   for i in $(seq 0 15); do ip tuntap add dev ws$i mode tap; ip link set ws$i master br0 up; done
//   dotnet run --project samples/ManyDevices -- 16 10.10.0.
// Interfaces ws0..ws(N-1) get addresses PREFIX(10+i)/24 and MACs 02:00:00:00:xx:xx.
using System.Diagnostics;
using System.Text;
using System.Runtime.InteropServices;
using Wirestack;
using Wirestack.Devices;
using Wirestack.Wire;

int count = args.Length > 0 && int.TryParse(args[0], out int n) && n is > 0 and <= 200 ? n : 4;
string prefix = args.Length > 1 ? args[1] : "10.10.0.";

// Ctrl-C and SIGTERM (systemctl stop, kill) end the program through the same orderly path.
using var stop = new CancellationTokenSource();
using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
using var terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);

long rssBefore = Environment.WorkingSet;
int threadsBefore = Process.GetCurrentProcess().Threads.Count;
var devices = new List<TapDevice>();
var stacks = new List<NetworkStack>();
var servers = new List<Task>();
for (int i = 0; i < count; i++)
{
    var device = TapDevice.Open($"ws{i}");
    devices.Add(device);
    var stack = await NetworkStack.StartAsync(device, new StackOptions
    {
        MacAddress = MacAddress.Parse($"02:00:00:00:{i >> 8:x2}:{i & 0xff:x2}"),
        Ipv4 = Ipv4Settings.Static($"{prefix}{10 + i}/24"),
        Ipv6 = Ipv6Settings.Disabled(),
    });
    stacks.Add(stack);
    servers.Add(GreetAsync(await stack.ListenTcpAsync(7), $"device {i}\n", stop.Token));
}
await Task.WhenAll(stacks.Select(s => s.WaitUntilReadyAsync(stop.Token)));
GC.Collect();
long rss = Environment.WorkingSet - rssBefore;
int threads = Process.GetCurrentProcess().Threads.Count - threadsBefore;
Console.WriteLine($"{count} stacks ready: {rss / 1024.0 / 1024:F1} MiB resident for all ({rss / 1024.0 / count:F0} KiB each), " +
    $"{threads} threads ({(double)threads / count:F1} each), managed heap {GC.GetTotalMemory(false) / 1024.0 / 1024:F1} MiB");

try
{
    await Task.Delay(Timeout.Infinite, stop.Token);
}
catch (OperationCanceledException)
{
}
foreach (var stack in stacks)
    await stack.DisposeAsync();
foreach (var device in devices)
    device.Dispose();
Console.WriteLine("Stopped");

static async Task GreetAsync(TcpListener listener, string greeting, CancellationToken cancellationToken)
{
    await using (listener)
    {
        try
        {
            while (true)
            {
                await using var connection = await listener.AcceptAsync(cancellationToken);
                await connection.WriteAsync(Encoding.ASCII.GetBytes(greeting), cancellationToken);
                connection.ShutdownSend();
            }
        }
        catch (OperationCanceledException)
        {
        }
    }
}

void Stop(PosixSignalContext context)
{
    context.Cancel = true;
    stop.Cancel();
}
