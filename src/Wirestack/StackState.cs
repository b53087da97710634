namespace Wirestack;

/// <summary>Where a stack is in coming up (the seed's interface states).</summary>
public enum StackState
{
    /// <summary>The link is down: the device is closed or its host side is not up.</summary>
    Down,
    /// <summary>The link is up; configuration has not started.</summary>
    LinkUp,
    /// <summary>Getting an address or resolving the gateway.</summary>
    Configuring,
    /// <summary>Addressed, and the gateway (if any) resolved: traffic can flow.</summary>
    Ready,
}
