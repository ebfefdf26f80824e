#!/usr/bin/env bash
# Headstart's default frozen recipe against the ML.NET peer (issue 21), the same ImageNet ResNet18 ONNX file on both
# sides, cold (fresh caches), one process per run under /usr/bin/time: flowers-small (400 / 200) and a Fashion-MNIST
# export with 300 training images per class (3,000 / 1,000). Headstart runs three ways: the default (the L-BFGS head
# on the centre crop), with the mirror view cached too (--augment-views 1), and the previous default (--head-fit sgd).
# Where Debian's python3-torch is installed, PyTorch's cached-features recipe (bench/pytorch_cached.py: same weights,
# same preprocessing, features extracted once, a linear head by Adam for 100 epochs) runs in the same way.
#   bench/mlnet/run.sh          (needs ../shared; HEADSTART_BENCH_NO_BUILD=1 reuses the build)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
if [ -z "${HEADSTART_BENCH_NO_BUILD:-}" ]; then
  dotnet build "$ROOT/Headstart.slnx" -c Release -nologo -v q -clp:ErrorsOnly >&2
  "$ROOT/scripts/publish-cli.sh"
  dotnet build "$ROOT/bench/MlNetPeer" -c Release -nologo -v q -clp:ErrorsOnly >&2
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
flowers="$(cd "$ROOT/../shared/datasets/flowers-small" && pwd)"
dotnet "$ROOT/bench/Headstart.Bench/bin/Release/net10.0/Headstart.Bench.dll" fashion-mnist "$work/fashion-300" \
  --per-class 300 --val-per-class 100 --seed 1 >&2
pytorch="" py=""
# Debian's interpreter first: a pyenv or venv python3 earlier on PATH usually lacks Debian's torch.
for candidate in /usr/bin/python3 python3; do
  if "$candidate" -c 'import torch, torchvision' 2>/dev/null; then py="$candidate"; break; fi
done
if [ -n "$py" ]; then
  # The weights in torchvision keys and the CNTK mean image, as Headstart.Bench exports them for pytorch_cached.py.
  dotnet "$ROOT/bench/Headstart.Bench/bin/Release/net10.0/Headstart.Bench.dll" "$flowers" --no-train --no-python \
    --forward-images 32 --work-dir "$work/export" --keep >&2
  pytorch="$work/export/pytorch"
fi

run() {   # run NAME DIR LABEL COMMAND...: one cold run, one table row
  local name="$1" dir="$2" label="$3"; shift 3
  rm -rf "$work/cache" "$work/out"
  HEADSTART_CACHE="$work/cache" /usr/bin/time -f '%e %M' -o "$work/time" "$@" > "$work/stdout" 2> "$work/stderr" \
    || { tail -20 "$work/stderr" >&2; exit 1; }
  read -r wall rss < "$work/time"
  local acc
  acc="$(tail -1 "$work/stdout" | grep -oE '"(val_)?accuracy": ?[0-9.eE+-]+' | head -1 | cut -d: -f2 | tr -d ' ')"
  printf '| %s | %s | %s | %s | %.1f s | %d MB |\n' "$name" "$(find "$dir/train" -type f | wc -l) / $(find "$dir/val" -type f | wc -l)" \
    "$label" "$(awk -v a="$acc" 'BEGIN { printf "%.1f %%", 100 * a }')" "$wall" "$(( rss / 1024 ))"
}

echo "| data | train / val | system | val accuracy | wall (cold) | peak RSS |"
echo "|---|---|---|---|---|---|"
for set in "flowers-small:$flowers" "Fashion-MNIST 300/class:$work/fashion-300"; do
  name="${set%%:*}" dir="${set#*:}"
  run "$name" "$dir" "Headstart default (L-BFGS head, L2 by CV, centre crop)" "$ROOT/headstart" train "$dir" --out "$work/out" --json
  run "$name" "$dir" "Headstart --augment-views 1 (L-BFGS head, + mirror view)" "$ROOT/headstart" train "$dir" --out "$work/out" --augment-views 1 --json
  run "$name" "$dir" "Headstart --head-fit sgd (the previous default: SGD head, mirror view below 100/class)" "$ROOT/headstart" train "$dir" --out "$work/out" --head-fit sgd --json
  run "$name" "$dir" "ML.NET 5.0.1 DnnFeaturizeImage ResNet18 + L-BFGS" dotnet "$ROOT/bench/MlNetPeer/bin/Release/net10.0/MlNetPeer.dll" "$dir"
  if [ -n "$pytorch" ]; then
    run "$name" "$dir" "PyTorch $("$py" -c 'import torch; print(torch.__version__)') cached features + linear head (Adam, 100 epochs)" \
      "$py" "$ROOT/bench/pytorch_cached.py" recipe --data "$dir" --weights "$pytorch/resnet18-cntk.safetensors" --mean-image "$pytorch/mean_image.f32"
  fi
done
