"""Writes a ConvNeXt-Tiny parity fixture (about 115 MB, never committed) for ZooParityTests.ConvNeXtTinyMatchesPyTorch.

    /usr/bin/python3 make_convnext_fixture.py OUT_DIR [SHARED_DIR]
    HEADSTART_EXTRA_FIXTURES=OUT_DIR dotnet test ... --filter ZooParityTests

Every parameter is random, including layer scale (torchvision starts it at 1e-6, which would hide the blocks) and the
LayerNorm affines, so every operation shows in the logits. Input is shared/fixtures/torchvision/input.f32.
"""
import os, shutil, sys
import numpy as np
import torch
import torchvision.models as tvm

out = sys.argv[1]
shared = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(__file__), "../../../../../shared")
os.makedirs(out, exist_ok=True)
torch.manual_seed(1234)
model = tvm.convnext_tiny(weights=None).eval()
with torch.no_grad():
    for key, p in model.named_parameters():
        if key.endswith("layer_scale"):
            p.uniform_(0.5, 1.5)
        elif p.ndim == 1:  # LayerNorm weights (init 1) and biases (init 0) get jitter
            p.add_(torch.randn_like(p) * 0.02)
src = os.path.join(shared, "fixtures/torchvision/input.f32")
x = torch.from_numpy(np.fromfile(src, dtype="<f4").reshape(2, 3, 224, 224))
with torch.no_grad():
    logits = model(x)
torch.save(model.state_dict(), os.path.join(out, "convnext_tiny.zip.pth"))
logits.numpy().astype("<f4").tofile(os.path.join(out, "convnext_tiny.logits.f32"))
shutil.copy(src, os.path.join(out, "input.f32"))
print("wrote", out)
