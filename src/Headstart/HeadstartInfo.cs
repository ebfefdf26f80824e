namespace Headstart; public static class HeadstartInfo { public const string Version = "0.1.0"; }
