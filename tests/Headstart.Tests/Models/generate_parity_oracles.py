#!/usr/bin/python3
"""Writes Parity/<model>.logits.f32: real torchvision 0.14.1 eval-mode logits for Headstart's parity tests.

Run with Debian's python3-torchvision (development machines only; never a dependency of the tests):

    /usr/bin/python3 tests/Headstart.Tests/Models/generate_parity_oracles.py

Weights and input are not stored: every value comes from a closed-form integer hash that the C# test
(DeterministicWeights.cs) reproduces bit for bit, so a 8 KB logits file is a full oracle for a multi-megabyte model.
googlenet and inception_v3 are built as their pretrained models are used: transform_input=True, no aux heads.
"""
import math
import os
import numpy as np
import torch
import torchvision.models as M

SIZES = {"inception_v3": 80}   # everything else at 64 px (inception needs >= 75)
MODELS = {
    "alexnet": lambda: M.alexnet(),
    "vgg11": lambda: M.vgg11(),
    "vgg11_bn": lambda: M.vgg11_bn(),
    "mobilenet_v2": lambda: M.mobilenet_v2(),
    "mobilenet_v3_large": lambda: M.mobilenet_v3_large(),
    "mobilenet_v3_small": lambda: M.mobilenet_v3_small(),
    "googlenet": lambda: M.googlenet(aux_logits=False, transform_input=True, init_weights=False),
    "inception_v3": lambda: M.inception_v3(aux_logits=False, transform_input=True, init_weights=False),
}
MASK64 = (1 << 64) - 1


def uniform(count, stream):
    """count values in [-0.5, 0.5) with 24-bit resolution (exact in float32): a splitmix64-style hash of
    (stream, index). Must match DeterministicWeights.Uniform in C#."""
    i = np.arange(count, dtype=np.uint64) + np.uint64((stream * 0x100000001B3) & MASK64)
    with np.errstate(over="ignore"):
        x = i * np.uint64(0x9E3779B97F4A7C15)
        x ^= x >> np.uint64(31)
        x *= np.uint64(0xBF58476D1CE4E5B9)
        x ^= x >> np.uint64(29)
    return (x >> np.uint64(40)).astype(np.float64) / float(1 << 24) - 0.5


def fill(key, tensor, stream):
    """The value rule for one state_dict entry; must match DeterministicWeights.Fill in C#."""
    n = tensor.numel()
    u = uniform(n, stream)
    if key.endswith("num_batches_tracked"):
        return
    if key.endswith("running_var"):
        v = 1.0 + 0.5 * u
    elif key.endswith("running_mean") or key.endswith("bias"):
        v = 0.2 * u
    elif tensor.dim() == 1:                          # norm weight
        v = 1.0 + 0.5 * u
    else:                                            # conv / linear weight: variance-preserving for ReLU nets
        fan_in = n // tensor.shape[0]
        v = u * math.sqrt(24.0 / fan_in)              # Var(u) = 1/12, so Var(v) = 2 / fan_in
    tensor.copy_(torch.from_numpy(v.astype(np.float32)).view_as(tensor))


def main():
    out_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "Parity")
    os.makedirs(out_dir, exist_ok=True)
    torch.set_grad_enabled(False)
    for name, make in MODELS.items():
        model = make().eval()
        for index, (key, tensor) in enumerate(model.state_dict().items()):
            fill(key, tensor, index + 1)
        size = SIZES.get(name, 64)
        x = torch.from_numpy((4.0 * uniform(2 * 3 * size * size, 0)).astype(np.float32)).view(2, 3, size, size)
        y = model(x)
        y.numpy().astype("<f4").tofile(os.path.join(out_dir, f"{name}.logits.f32"))
        print(f"{name}: input {size} px, max|logit| {float(y.abs().max()):.3f}, std {float(y.std()):.3f}")


if __name__ == "__main__":
    main()
