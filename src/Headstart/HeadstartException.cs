namespace Headstart;

/// <summary>An error the user can fix (bad data, bad weights, bad options). The message says what to fix.</summary>
public class HeadstartException(string message, Exception? inner = null) : Exception(message, inner);
