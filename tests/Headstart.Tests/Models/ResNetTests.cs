using Headstart.Models;
using Xunit;

namespace Headstart.Tests.Models;

public class ResNetTests
{
    [Theory]
    [InlineData("resnet18", 122)]
    [InlineData("resnet18-cntk", 134)]
    public void StateDictHasTorchvisionKeyCount(string name, int keys)
    {
        using var model = ModelRegistry.Get(name).Create();
        Assert.Equal(keys, model.state_dict().Count);
    }
}
