using TorchSharp;
using Headstart.Models;
foreach (var (ours, tv) in new (string, Func<torch.nn.Module>)[] { ("resnet18", () => torchvision.models.resnet18()), ("resnet50", () => torchvision.models.resnet50()), ("resnext50_32x4d", () => torchvision.models.resnext50_32x4d()), ("wide_resnet50_2", () => torchvision.models.wide_resnet50_2()) })
{
    var a = ModelRegistry.Get(ours).Create().state_dict();
    var b = tv().state_dict();
    var ka = a.Select(kv => kv.Key + ":" + string.Join(",", kv.Value.shape)).ToList();
    var kb = b.Select(kv => kv.Key + ":" + string.Join(",", kv.Value.shape)).ToList();
    Console.WriteLine($"{ours}: {ka.Count} vs {kb.Count}, same={ka.SequenceEqual(kb)} diff={string.Join(" ", ka.Except(kb).Take(3))} | {string.Join(" ", kb.Except(ka).Take(3))}");
}
