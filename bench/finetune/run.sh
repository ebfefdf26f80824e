#!/usr/bin/env bash
# Fine-tune epoch time: Headstart vs PyTorch eager, same model (resnet18), batch 32, light augmentation, CPU.
# Usage: bench/finetune/run.sh [DATA] [WEIGHTS]   (run from anywhere; builds Release first)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
data=${1:-$root/../shared/datasets/flowers-small}
weights=${2:-$root/../shared/fixtures/torchvision/resnet18.zip.pth}
workers=${WORKERS:-2}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
dotnet build "$root/Headstart.slnx" -c Release -nologo -v q -clp:ErrorsOnly >/dev/null
# --freeze-epochs 0 --epochs 1: exactly one unfrozen fine-tune epoch; the epoch time comes from the bundle's history.
dotnet "$root/src/Headstart.Cli/bin/Release/net10.0/Headstart.Cli.dll" train "$data" --model resnet18 --weights "$weights" \
  --strategy fine-tune --freeze-epochs 0 --epochs 1 --batch-size 32 --augment light --workers "$workers" \
  --out "$out/bundle" --checkpoint-dir none --json > "$out/hs.json"
hs=$(python3 -c "import json,sys; m=json.load(open('$out/bundle/model.json')); print(m['history'][-1]['seconds'])")
pt=$(/usr/bin/python3 "$root/bench/finetune/pytorch_epoch.py" "$data" "$weights" 32 "$workers")
echo "pytorch: $pt"
python3 - "$hs" "$pt" <<'PY'
import json, sys
hs, pt = float(sys.argv[1]), json.loads(sys.argv[2])["epoch_seconds"]
print(json.dumps({"headstart_epoch_seconds": round(hs, 2), "pytorch_epoch_seconds": round(pt, 2), "ratio": round(hs / pt, 3)}))
PY
