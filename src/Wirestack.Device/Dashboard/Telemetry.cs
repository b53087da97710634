namespace Wirestack.Device.Dashboard;

/// <summary>
/// The seed's demo sensor (temperature and humidity, with a short history), made live: a slow random walk sampled
/// once a second, so the chart moves.
/// </summary>
internal sealed class Telemetry
{
    readonly object _lock = new();
    readonly Queue<int> _points = new();
    readonly Random _random = new();
    double _temperature = 21;
    double _humidity = 67;
    long _lastSample;

    public (int Temperature, int Humidity, int[] Points) Read()
    {
        lock (_lock)
        {
            long now = Environment.TickCount64 / 1000;
            while (_lastSample < now || _points.Count == 0)
            {
                _temperature = Math.Clamp(_temperature + (_random.NextDouble() - 0.5), 15, 30);
                _humidity = Math.Clamp(_humidity + (_random.NextDouble() - 0.5) * 2, 30, 90);
                _points.Enqueue((int)Math.Round(_temperature));
                while (_points.Count > 20)
                    _points.Dequeue();
                _lastSample = _lastSample == 0 || now - _lastSample > 20 ? now : _lastSample + 1;
            }
            return ((int)Math.Round(_temperature), (int)Math.Round(_humidity), _points.ToArray());
        }
    }
}
