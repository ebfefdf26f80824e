using Google.Protobuf;
using Headstart.Export.Onnx;
using Headstart.Onnx;
using Headstart.Tests.TestSupport;
using Headstart.Weights;
using Xunit;

namespace Headstart.Tests.Export;

/// <summary>
/// The batch-dimension edit copies every field it does not edit byte for byte: the result must decode to exactly the
/// model that parsing everything, editing the messages and dropping value_info gives, and bad input must fail cleanly.
/// </summary>
public sealed class OnnxBatchEditTests : IDisposable
{
    private readonly TempDir tmp = new("onnx-batch-edit");
    public void Dispose() => tmp.Dispose();

    private static ModelProto EditedTheSlowWay(byte[] bytes)
    {
        var model = ModelProto.Parser.ParseFrom(bytes);
        var graph = model.Graph;
        var input = graph.Input.Single(i => !graph.Initializer.Any(t => t.Name == i.Name));
        foreach (var v in new[] { input, graph.Output[0] })
            v.Type.TensorType.Shape.Dim[0] = new TensorShapeProto.Types.Dimension { DimParam = "N" };
        graph.ValueInfo.Clear();
        return model;
    }

    [Fact]
    public void CntkResNet18EditDecodesToTheFullyParsedEdit()
    {
        byte[] bytes = File.ReadAllBytes(EmbeddedWeights.GetPath(EmbeddedWeights.CntkResNet18));
        var result = OnnxBatchEdit.MakeBatchSymbolic(bytes, "ResNet18.onnx");
        var expected = EditedTheSlowWay(bytes);
        Assert.Equal(expected, ModelProto.Parser.ParseFrom(result.Model));
        Assert.Equal(expected.Graph.Input.Single(i => i.Name == result.Input.Name).Type.TensorType.Shape.Dim.Skip(1),
                     result.Input.Type.TensorType.Shape.Dim.Skip(1));
        Assert.Equal(1, result.Input.Type.TensorType.Shape.Dim[0].DimValue);   // the returned shapes are the file's
    }

    [Fact]
    public void ExportedModelWithValueInfoEditsTheSameWay()
    {
        // A graph written by our exporter's builder: its initializers are not graph inputs (IR >= 4) and it has value_info.
        var model = new ModelProto
        {
            IrVersion = 8,
            Graph = new GraphProto
            {
                Name = "g",
                Input = { Value("x", 1, 3, 8, 8) },
                Output = { Value("y", 1, 4) },
                ValueInfo = { Value("h", 1, 16) },
                Initializer = { new TensorProto { Name = "w", DataType = 1, Dims = { 4 }, FloatData = { 1, 2, 3, 4 } } },
                Node = { new NodeProto { OpType = "Identity", Input = { "x" }, Output = { "y" } } },
            },
            OpsetImport = { new OperatorSetIdProto { Version = 17 } },
        };
        byte[] bytes = model.ToByteArray();
        var result = OnnxBatchEdit.MakeBatchSymbolic(bytes, "m.onnx");
        Assert.Equal(EditedTheSlowWay(bytes), ModelProto.Parser.ParseFrom(result.Model));
        Assert.Equal("x", result.Input.Name);
        Assert.Equal("y", result.Output.Name);
    }

    [Theory]
    [InlineData("graph-less")]
    [InlineData("truncated")]
    [InlineData("two-inputs")]
    [InlineData("huge-length")]
    [InlineData("two-graphs")]
    public void BadModelsFailWithTheFileNamed(string kind)
    {
        byte[] bytes = kind switch
        {
            "graph-less" => new ModelProto { IrVersion = 8 }.ToByteArray(),
            "truncated" => File.ReadAllBytes(EmbeddedWeights.GetPath(EmbeddedWeights.CntkResNet18))[..5000],
            // Field 7 with a length of 2^64 - 11: read as a signed number it would point 11 bytes back, to the start.
            "huge-length" => [0x3A, 0xF5, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01],
            "two-graphs" => [.. new ModelProto { Graph = new GraphProto { Input = { Value("x", 1, 3) }, Output = { Value("y", 1, 2) } } }.ToByteArray(),
                             .. new ModelProto { Graph = new GraphProto { Name = "second" } }.ToByteArray()],
            _ => new ModelProto { Graph = new GraphProto { Input = { Value("a", 1, 3), Value("b", 1, 3) }, Output = { Value("y", 1, 2) } } }.ToByteArray(),
        };
        var e = Assert.Throws<HeadstartException>(() => OnnxBatchEdit.MakeBatchSymbolic(bytes, "bad.onnx"));
        Assert.Contains("'bad.onnx'", e.Message);
    }

    private static ValueInfoProto Value(string name, params long[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (long d in dims) shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = 1, Shape = shape } } };
    }
}
