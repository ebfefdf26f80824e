"""Writes zoo_keys.json.gz: torchvision's state_dict keys and shapes, in order, for every zoo variant.

Run with Debian's python3-torchvision 0.14.1 (torch 1.13):  /usr/bin/python3 make_zoo_keys.py
"""
import gzip, json, os
import torch
import torchvision.models as tvm

NAMES = (["squeezenet1_0", "squeezenet1_1"]
         + [f"densenet{d}" for d in (121, 161, 169, 201)]
         + [f"efficientnet_b{i}" for i in range(8)]
         + ["convnext_tiny", "convnext_small", "convnext_base"]
         + [f"shufflenet_v2_x{w}" for w in ("0_5", "1_0", "1_5", "2_0")]
         + [f"mnasnet{w}" for w in ("0_5", "0_75", "1_0", "1_3")])

out = {"generator": f"torch {torch.__version__}, torchvision {tvm.__name__ and __import__('torchvision').__version__}",
       "models": {}}
for name in NAMES:
    torch.manual_seed(0)
    model = getattr(tvm, name)(weights=None)
    out["models"][name] = [[k, list(v.shape)] for k, v in model.state_dict().items()]
    del model
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "zoo_keys.json.gz")
with gzip.GzipFile(path, "wb", mtime=0) as f:
    f.write(json.dumps(out, separators=(",", ":")).encode())
print(path, {k: len(v) for k, v in out["models"].items()})
