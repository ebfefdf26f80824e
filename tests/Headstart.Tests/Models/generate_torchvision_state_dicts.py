#!/usr/bin/python3
"""Writes torchvision_state_dicts.json.gz: the state_dict layout (key order, names, shapes) of every torchvision
classification model with 1000 classes, for Headstart's registry contract tests.

Run with Debian's python3-torchvision 0.14.1 (development machines only; never a dependency of the tests):

    /usr/bin/python3 tests/Headstart.Tests/Models/generate_torchvision_state_dicts.py

Each model is built exactly as `torchvision.models.get_model(name)` builds it (no weights), except that weight
initialisation is skipped (only shapes matter, and scipy's truncated normal for googlenet/inception takes minutes).
For googlenet and inception_v3 this is the aux_logits=True layout, which is also the layout of the published weight
files (torchvision loads them strictly into an aux_logits=True model before dropping aux heads).

Output: {"torchvision": "0.14.1", "models": {name: [[key, [dim, ...]], ...]}} in state_dict order, gzip'd.
"""
import gzip
import json
import os
import warnings

import torch
import torchvision
from torchvision import models

# Shapes do not depend on initial values: make every init a no-op so huge models build in seconds.
for fn in dir(torch.nn.init):
    if fn.endswith("_") and not fn.startswith("_"):
        setattr(torch.nn.init, fn, lambda t, *a, **k: t)
torch.nn.Linear.reset_parameters = lambda self: None
torch.nn.modules.conv._ConvNd.reset_parameters = lambda self: None

warnings.filterwarnings("ignore")
out = {"torchvision": torchvision.__version__.split("a")[0], "models": {}}
for name in sorted(models.list_models(module=models)):
    with torch.no_grad():
        model = models.get_model(name)
    out["models"][name] = [[k, list(v.shape)] for k, v in model.state_dict().items()]
    del model

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torchvision_state_dicts.json.gz")
data = json.dumps(out, separators=(",", ":")).encode()
with gzip.GzipFile(path, "wb", mtime=0) as f:   # mtime 0: reproducible bytes
    f.write(data)
print(f"{len(out['models'])} models, {sum(len(v) for v in out['models'].values())} keys, "
      f"{len(data)} bytes json, {os.path.getsize(path)} bytes gzip -> {path}")
