using System.Text.Json;
using System.Text.Json.Nodes;
using Headstart.Bundles;
using Headstart.Data;
using Headstart.IO;
using Headstart.Inference;
using Headstart.Tests.TestSupport;
using Headstart.Training;
using Headstart.Weights;
using Xunit;

namespace Headstart.Tests.Bundles;

/// <summary>
/// A bundle carries everything inference needs (issue 18): besides its backbone file and head, the mean image its
/// preprocessing subtracts (resnet18-cntk's CNTK mean image), checked against its SHA-256. Inference reads the bundle's
/// copy, not the installation's; bundles written before (format 2) still load from the installation.
/// </summary>
[Collection(GlobalRngCollection.Name)]
public class PortableBundleTests : IClassFixture<FrozenBackboneBundleTests.Trained>
{
    // The frozen-backbone bundle trained for FrozenBackboneBundleTests (resnet18-cntk: backbone file, head, mean image).
    private readonly FrozenBackboneBundleTests.Trained fx;
    private string Bundle => fx.Split;
    public PortableBundleTests(FrozenBackboneBundleTests.Trained fx) => this.fx = fx;

    private float[] Probabilities(string bundle)
    {
        using var clf = Classifier.Load(bundle);
        return Directory.EnumerateFiles(Path.Combine(fx.Data, "val"), "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal)
            .SelectMany(f => clf.PredictFile(f, top: 2).Top.OrderBy(t => t.Label, StringComparer.Ordinal).Select(t => t.Probability)).ToArray();
    }

    private string CopyOf(string name)
    {
        string copy = fx.Dir.Combine(name);
        if (Directory.Exists(copy)) Directory.Delete(copy, recursive: true);
        Directory.CreateDirectory(copy);
        foreach (var f in Directory.GetFiles(Bundle)) File.Copy(f, Path.Combine(copy, Path.GetFileName(f)));
        return copy;
    }

    private static void EditManifest(string bundle, Action<JsonObject> edit)
    {
        string path = Path.Combine(bundle, ModelBundle.ManifestFile);
        var json = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        edit(json);
        File.WriteAllText(path, json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
    }

    [Fact]
    public void TheBundleCarriesItsMeanImageWithItsChecksum()
    {
        var m = ModelBundle.ReadManifest(Bundle);
        Assert.Equal(BundleManifest.CurrentFormatVersion, m.FormatVersion);
        Assert.Equal(ModelBundle.MeanImageFileName, m.MeanImageFile);
        Assert.Equal(FileHashes.Sha256(Path.Combine(Bundle, m.MeanImageFile!)), m.MeanImageSha256);
        Assert.Equal(MeanImages.Get(MeanImages.CntkResNet), ModelBundle.ReadMeanImage(Bundle, m));
    }

    [Fact]
    public void InferenceSubtractsTheBundlesOwnMeanImage()
    {
        var original = Probabilities(Bundle);
        // Moved elsewhere: the same predictions.
        Assert.Equal(original, Probabilities(CopyOf("moved")));

        // A bundle whose mean image is zeros (checksum updated to match) predicts differently: its own file is read.
        string zeros = CopyOf("zeros");
        var m = ModelBundle.ReadManifest(zeros);
        int s = m.Preprocessing.InputSize;
        using (var sd = new StateDict())
        {
            sd.Add("mean_image", TorchSharp.torch.zeros(3, s, s));
            Safetensors.Write(Path.Combine(zeros, m.MeanImageFile!), sd);
        }
        EditManifest(zeros, j => j["mean_image_sha256"] = FileHashes.Sha256(Path.Combine(zeros, m.MeanImageFile!)));
        Assert.NotEqual(original, Probabilities(zeros));
    }

    [Fact]
    public void TheSampleAppPredictsFromACopiedBundleAsTheLibraryDoes()
    {
        // samples/ClassifierApp (the library alone) on the frozen bundle moved elsewhere: backbone copy, head, mean image.
        string moved = CopyOf("sample-app");
        string image = Directory.EnumerateFiles(Path.Combine(fx.Data, "val"), "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal).First();
        using var clf = Classifier.Load(Bundle);
        var expected = clf.PredictFile(image);
        var (code, stdout, stderr) = Headstart.Tests.Export.SampleAppTests.RunSample(moved, image);
        Assert.True(code == 0, $"exit {code}\n{stdout}\n{stderr}");
        var fields = stdout.Trim().Split('\t');
        Assert.Equal(expected.Label, fields[1]);
        Assert.Equal(expected.Probability, float.Parse(fields[2], System.Globalization.CultureInfo.InvariantCulture), 1e-3f);
    }

    [Fact]
    public void ABundleWithoutItsMeanImageLoadsFromTheInstallationAndADamagedOneIsRefused()
    {
        var original = Probabilities(Bundle);
        // Written before bundles carried it (format 2): the installation's mean image, the same predictions.
        string old = CopyOf("format2");
        File.Delete(Path.Combine(old, ModelBundle.MeanImageFileName));
        EditManifest(old, j =>
        {
            j["format_version"] = 2;
            j.Remove("mean_image_file");
            j.Remove("mean_image_sha256");
        });
        Assert.Equal(original, Probabilities(old));

        string damaged = CopyOf("damaged");
        var bytes = File.ReadAllBytes(Path.Combine(damaged, ModelBundle.MeanImageFileName));
        bytes[^1] ^= 0x55;
        File.WriteAllBytes(Path.Combine(damaged, ModelBundle.MeanImageFileName), bytes);
        Assert.Contains("not the mean image the model was trained with", Assert.Throws<HeadstartException>(() => Classifier.Load(damaged)).Message);

        string missing = CopyOf("missing");
        File.Delete(Path.Combine(missing, ModelBundle.MeanImageFileName));
        Assert.Contains("missing its mean image", Assert.Throws<HeadstartException>(() => Classifier.Load(missing)).Message);
    }
}
