"""One fine-tune epoch (everything unfrozen) of torchvision resnet18 in PyTorch eager, for comparison with Headstart.

Same work as `headstart train --strategy fine-tune --freeze-epochs 0 --epochs 1 --augment light`: RandomResizedCrop(224)
+ horizontal flip, SGD momentum 0.9, batch 32, then a validation pass (Headstart's epoch time includes validation).
Prints one JSON line: {"epoch_seconds": ..., "train_seconds": ..., "val_seconds": ...}.
"""
import json, os, sys, time
import torch, torchvision
from torchvision import transforms as T

data, weights = sys.argv[1], sys.argv[2]
batch, workers = int(sys.argv[3]) if len(sys.argv) > 3 else 32, int(sys.argv[4]) if len(sys.argv) > 4 else 2
# Debian's torch starts with 1 OpenMP thread here; use every core, as libtorch under TorchSharp does.
torch.set_num_threads(int(os.environ.get("THREADS", os.cpu_count())))
torch.manual_seed(42)
norm = T.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
train = torchvision.datasets.ImageFolder(f"{data}/train", T.Compose([T.RandomResizedCrop(224), T.RandomHorizontalFlip(), T.ToTensor(), norm]))
val = torchvision.datasets.ImageFolder(f"{data}/val", T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(), norm]))
model = torchvision.models.resnet18()
model.load_state_dict(torch.load(weights, map_location="cpu"))
model.fc = torch.nn.Linear(512, len(train.classes))
opt = torch.optim.SGD(model.parameters(), lr=0.005, momentum=0.9)
loader = torch.utils.data.DataLoader(train, batch_size=batch, shuffle=True, num_workers=workers)
vloader = torch.utils.data.DataLoader(val, batch_size=batch, num_workers=workers)
t0 = time.perf_counter()
model.train()
for x, y in loader:
    opt.zero_grad()
    loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    opt.step()
t1 = time.perf_counter()
model.eval()
with torch.no_grad():
    for x, y in vloader:
        model(x).argmax(1)
t2 = time.perf_counter()
print(json.dumps({"epoch_seconds": t2 - t0, "train_seconds": t1 - t0, "val_seconds": t2 - t1,
                  "torch": torch.__version__, "threads": torch.get_num_threads(), "train_images": len(train)}))
