namespace Headstart.Weights;
// TEMPORARY shim until the onnx branch lands (not committed).
public static class MeanImages { public static float[] Get(string name) => throw new NotSupportedException(name); }
