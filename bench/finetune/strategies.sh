#!/usr/bin/env bash
# Frozen vs fine-tune val accuracy, paired over seeds (issue 5's accuracy target); see bench/README.md.
#   bench/finetune/strategies.sh [DATA] [SEEDS]     defaults: ../shared/datasets/flowers-small, "42 1 2 3 4 5"
# FROZEN_ARGS / FINETUNE_ARGS add `headstart train` arguments to either side (default FINETUNE_ARGS: --epochs 5).
# Prints one line per run and a summary: mean (sd) of each strategy and of the paired difference, with its t.
# No selection on val: each run reports its last epoch. Features are cached once in a work directory for all runs.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DATA="${1:-$ROOT/../shared/datasets/flowers-small}"
SEEDS="${2:-42 1 2 3 4 5}"
FROZEN_ARGS="${FROZEN_ARGS:-}"
FINETUNE_ARGS="${FINETUNE_ARGS:---epochs 5}"
WORK="$(mktemp -d /tmp/headstart-strategies-XXXXXX)"
trap 'rm -rf "$WORK"' EXIT
[ -d "$DATA" ] || { echo "no ImageFolder at $DATA" >&2; exit 2; }

run() { # seed strategy args... -> prints val accuracy and seconds
  local seed=$1 strategy=$2; shift 2
  local start end json
  start=$(date +%s.%N)
  # shellcheck disable=SC2068
  json=$("$ROOT/headstart" train "$DATA" --strategy "$strategy" --seed "$seed" --json --cache-dir "$WORK/cache" \
    --out "$WORK/bundle" $@ 2>"$WORK/stderr" | tail -1) || { cat "$WORK/stderr" >&2; exit 1; }
  end=$(date +%s.%N)
  acc=$(sed -n 's/.*"val_accuracy": *\([0-9.eE+-]*\).*/\1/p' <<<"$json")
  [ -n "$acc" ] || { echo "no val_accuracy in: $json" >&2; exit 1; }
  echo "$acc $(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.1f", e - s }')"
}

echo "data: $DATA"
echo "frozen:    headstart train DATA --strategy frozen --seed S $FROZEN_ARGS"
echo "fine-tune: headstart train DATA --strategy fine-tune --seed S $FINETUNE_ARGS"
printf '%-6s %10s %10s %10s %9s %9s\n' seed frozen fine-tune diff frozen_s tune_s
rows=""
for seed in $SEEDS; do
  read -r fa fs <<<"$(run "$seed" frozen $FROZEN_ARGS)"
  read -r ta ts <<<"$(run "$seed" fine-tune $FINETUNE_ARGS)"
  printf '%-6s %9.1f%% %9.1f%% %+10.1f %9s %9s\n' "$seed" "$(awk -v a="$fa" 'BEGIN{print 100*a}')" \
    "$(awk -v a="$ta" 'BEGIN{print 100*a}')" "$(awk -v a="$fa" -v b="$ta" 'BEGIN{print 100*(b-a)}')" "$fs" "$ts"
  rows+="$fa $ta"$'\n'
done
awk 'NF == 2 { n++; f[n] = 100 * $1; t[n] = 100 * $2 }
  function mean(x,   s, i) { s = 0; for (i = 1; i <= n; i++) s += x[i]; return s / n }
  function sd(x, m,   s, i) { if (n < 2) return 0; s = 0; for (i = 1; i <= n; i++) s += (x[i] - m) ^ 2; return sqrt(s / (n - 1)) }
  END {
    for (i = 1; i <= n; i++) d[i] = t[i] - f[i]
    mf = mean(f); mt = mean(t); md = mean(d); sdd = sd(d, md)
    printf "mean (sd): frozen %.1f%% (%.1f), fine-tune %.1f%% (%.1f), fine-tune - frozen %+.1f (%.1f)", mf, sd(f, mf), mt, sd(t, mt), md, sdd
    if (n > 1 && sdd > 0) printf ", paired t = %.2f over %d seeds", md / (sdd / sqrt(n)), n
    printf "\n"
  }' <<<"$rows"
