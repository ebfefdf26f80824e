#!/usr/bin/env python3
"""PyTorch eager reference for bench/ (issue 4): the "features cached once + linear head" recipe.

Same network and weights as Headstart's resnet18-cntk (torchvision ResNet(BasicBlock, [2, 2, 2, 3]) loaded from the
safetensors file the bench writes), same preprocessing (resize 256, centre crop 224, BGR, 0-255, minus the CNTK mean
image), features extracted once, then a linear head trained with Adam for 100 epochs (--mode recipe). Or the bare
forward on the batch the bench preprocessed, checked against Headstart's features for it (--mode forward). Run by
Headstart.Bench, one process per mode so that each is timed and measured on its own; the last stdout line is one JSON
object. Needs only Debian's python3-torch, python3-torchvision, python3-numpy and python3-pil.
"""
import time

T0 = time.perf_counter()  # the recipe is timed from here: imports included, as a user would pay them

import argparse
import json
import math
import os
import struct
import sys

import numpy as np
import torch
from torch import nn
from torchvision import datasets, transforms
from torchvision.models.resnet import BasicBlock, ResNet

SIZE = 224
DTYPES = {"F32": np.float32, "F64": np.float64, "F16": np.float16, "I64": np.int64, "I32": np.int32}


def log(msg):
    print(f"[pytorch {time.perf_counter() - T0:6.1f}s] {msg}", file=sys.stderr, flush=True)


def read_safetensors(path):
    """A safetensors file as {name: tensor}: 8-byte little-endian header length, JSON header, raw data."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        array = np.frombuffer(data[begin:end], dtype=np.dtype(DTYPES[info["dtype"]]).newbyteorder("<"))
        out[name] = torch.from_numpy(array.reshape(info["shape"]).copy())
    return out


def backbone(weights_path):
    model = ResNet(BasicBlock, [2, 2, 2, 3])
    model.fc = nn.Identity()  # (B, 512) features after avgpool + flatten, like ImageClassifier.ForwardFeatures
    state = {k: v for k, v in read_safetensors(weights_path).items() if not k.startswith("fc.")}
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise SystemExit(f"weights do not fit ResNet18 [2,2,2,3]: missing {missing}, unexpected {unexpected}")
    return model.eval()


class CntkPreprocess:
    """PIL image -> (3, 224, 224) float: resize 256, centre crop 224, BGR, 0-255, minus the mean image."""

    def __init__(self, mean_image):
        self.geometry = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(SIZE), transforms.PILToTensor()])
        self.mean_image = mean_image

    def __call__(self, image):
        return self.geometry(image).flip(0).float() - self.mean_image


def splits(root, preprocess):
    """(train, val) datasets: root/train + root/val, or one folder split 80/20 per class (seeded)."""
    if os.path.isdir(os.path.join(root, "train")) and os.path.isdir(os.path.join(root, "val")):
        return (datasets.ImageFolder(os.path.join(root, "train"), preprocess),
                datasets.ImageFolder(os.path.join(root, "val"), preprocess))
    full = datasets.ImageFolder(root, preprocess)
    rng = np.random.default_rng(42)
    train_idx, val_idx = [], []
    for c in range(len(full.classes)):
        idx = [i for i, t in enumerate(full.targets) if t == c]
        rng.shuffle(idx)
        n_val = round(0.2 * len(idx))
        val_idx += idx[:n_val]
        train_idx += idx[n_val:]
    return torch.utils.data.Subset(full, train_idx), torch.utils.data.Subset(full, val_idx)


def extract(model, dataset, workers, batch_size):
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=workers)
    feats, labels = [], []
    with torch.no_grad():
        for x, y in loader:
            feats.append(model(x))
            labels.append(y)
    return torch.cat(feats), torch.cat(labels)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("mode", choices=["recipe", "forward"])
    p.add_argument("--data", help="recipe: ImageFolder root (train/ + val/, or class folders split 80/20)")
    p.add_argument("--weights", required=True, help="safetensors state_dict of resnet18-cntk (torchvision keys)")
    p.add_argument("--mean-image", help="recipe: (3, 224, 224) float32 BGR mean image, raw little-endian")
    p.add_argument("--batch", help="forward: (B, 3, 224, 224) float32 batch preprocessed by Headstart")
    p.add_argument("--features", help="forward: (B, 512) float32 features Headstart computed for --batch")
    p.add_argument("--forward-images", type=int, default=600, help="images the bare forward covers (batch repeated)")
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--workers", type=int, default=os.cpu_count())
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    torch.set_num_threads(a.threads)  # Debian's libgomp may default to 1 thread here; match Headstart's core count
    torch.manual_seed(a.seed)
    model = backbone(a.weights)
    result = recipe(model, a) if a.mode == "recipe" else forward(model, a)
    print(json.dumps({**result, "threads": a.threads, "torch_version": torch.__version__}))


def recipe(model, a):
    """The cached recipe end to end, timed from interpreter start."""
    if not a.data or not a.mean_image:
        raise SystemExit("recipe needs --data and --mean-image")
    mean_image = torch.from_numpy(np.fromfile(a.mean_image, dtype="<f4").reshape(3, SIZE, SIZE).copy())
    train_set, val_set = splits(a.data, CntkPreprocess(mean_image))
    log(f"extracting features: {len(train_set)} train + {len(val_set)} val images, {a.threads} threads, {a.workers} workers")
    x_train, y_train = extract(model, train_set, a.workers, a.batch_size)
    x_val, y_val = extract(model, val_set, a.workers, a.batch_size)
    extracted = time.perf_counter()
    classes = int(max(y_train.max(), y_val.max())) + 1
    head = nn.Linear(x_train.shape[1], classes)
    opt = torch.optim.Adam(head.parameters(), lr=a.lr)
    loss_fn = nn.CrossEntropyLoss()
    for _ in range(a.epochs):
        perm = torch.randperm(len(x_train))
        for i in range(0, len(perm), a.batch_size):
            idx = perm[i:i + a.batch_size]
            opt.zero_grad()
            loss_fn(head(x_train[idx]), y_train[idx]).backward()
            opt.step()
    with torch.no_grad():
        accuracy = (head(x_val).argmax(1) == y_val).float().mean().item()
    recipe_seconds = time.perf_counter() - T0
    log(f"recipe: {recipe_seconds:.1f} s (extraction {extracted - T0:.1f} s), val accuracy {accuracy:.1%}")
    return {"recipe_seconds": recipe_seconds, "extract_seconds": extracted - T0, "val_accuracy": accuracy,
            "train_count": len(train_set), "val_count": len(val_set)}


def forward(model, a):
    """The bare forward on Headstart's preprocessed batch, repeated to cover --forward-images images."""
    if not a.batch or not a.features:
        raise SystemExit("forward needs --batch and --features")
    batch = torch.from_numpy(np.fromfile(a.batch, dtype="<f4").copy()).reshape(-1, 3, SIZE, SIZE)
    expected = torch.from_numpy(np.fromfile(a.features, dtype="<f4").copy()).reshape(batch.shape[0], -1)
    with torch.no_grad():
        got = model(batch)  # warm-up + parity
        parity = (got - expected).abs().max().item()
        passes = max(1, math.ceil(a.forward_images / batch.shape[0]))
        start = time.perf_counter()
        for _ in range(passes):
            model(batch)
        forward_seconds = time.perf_counter() - start
    forward_images = passes * batch.shape[0]
    log(f"bare forward: {1000 * forward_seconds / forward_images:.1f} ms/image over {forward_images} images; "
        f"max |features - Headstart's| = {parity:.2e}")
    return {"forward_ms_per_image": 1000 * forward_seconds / forward_images, "forward_images": forward_images,
            "parity_max_abs_diff": parity}


if __name__ == "__main__":
    main()
