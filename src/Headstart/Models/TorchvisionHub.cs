namespace Headstart.Models;

/// <summary>torchvision's weight store: https://download.pytorch.org/models/.</summary>
internal static class TorchvisionHub
{
    public const string BaseUrl = "https://download.pytorch.org/models/";

    /// <summary>
    /// An IMAGENET1K_V1 source for a torchvision file; its name ends in the leading hex digits of its SHA-256: 8 of them
    /// (e.g. "alexnet-owt-7be5be79.pth" → "7be5be79"), or 10 in files from 2019 ("shufflenetv2_x1-5666bf0f80.pth").
    /// </summary>
    public static WeightSource Source(string fileName, WeightFormat format, string id = "IMAGENET1K_V1") =>
        new(id, format, fileName, BaseUrl + fileName, Path.GetFileNameWithoutExtension(fileName).Split('-')[^1]);
}
