#!/usr/bin/env bash
# Frozen vs fine-tune val accuracy, paired over seeds (issue 5's accuracy target); see bench/finetune/README.md.
#   bench/finetune/strategies.sh [DATA] [SEEDS]     defaults: ../shared/datasets/flowers-small, "42 1 2 3 4 5"
# FROZEN_ARGS / FINETUNE_ARGS add `headstart train` arguments to either side (split on spaces; default FINETUNE_ARGS:
# --epochs 5, and FINETUNE_ARGS= adds nothing). Prints one line per seed and a summary: mean (sd) of each strategy and
# of the paired difference, with its t. No selection on val: each run reports its last epoch. Features are cached once
# in a temporary work directory shared by all runs. Stops at the first failed run.
set -euo pipefail
export LC_ALL=C
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DATA="${1:-$ROOT/../shared/datasets/flowers-small}"
SEEDS="${2:-42 1 2 3 4 5}"
read -ra FROZEN <<<"${FROZEN_ARGS-}"
read -ra FINETUNE <<<"${FINETUNE_ARGS---epochs 5}"
[ -d "$DATA" ] || { echo "no ImageFolder at $DATA" >&2; exit 2; }
WORK="$(mktemp -d /tmp/headstart-strategies-XXXXXX)"
trap 'rm -rf "$WORK"' EXIT

run() { # seed strategy [args...] -> "accuracy seconds"
  local seed=$1 strategy=$2 start end json acc
  shift 2
  start=$(date +%s.%N)
  if ! json=$("$ROOT/headstart" train "$DATA" --strategy "$strategy" --seed "$seed" --json --cache-dir "$WORK/cache" \
      --out "$WORK/bundle" "$@" 2>"$WORK/stderr" | tail -1); then
    cat "$WORK/stderr" >&2
    return 1
  fi
  end=$(date +%s.%N)
  acc=$(sed -n 's/.*"val_accuracy": *\([0-9.eE+-]*\).*/\1/p' <<<"$json")
  [ -n "$acc" ] || { echo "no val_accuracy in: $json" >&2; cat "$WORK/stderr" >&2; return 1; }
  echo "$acc $(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.1f", e - s }')"
}

echo "data: $DATA"
echo "frozen:    headstart train DATA --strategy frozen --seed S ${FROZEN[*]:-}"
echo "fine-tune: headstart train DATA --strategy fine-tune --seed S ${FINETUNE[*]:-}"
printf '%-6s %10s %10s %10s %9s %9s\n' seed frozen fine-tune diff frozen_s tune_s
rows=""
for seed in $SEEDS; do
  out=$(run "$seed" frozen ${FROZEN[@]+"${FROZEN[@]}"}) || { echo "frozen run failed (seed $seed)" >&2; exit 1; }
  read -r fa fs <<<"$out"
  out=$(run "$seed" fine-tune ${FINETUNE[@]+"${FINETUNE[@]}"}) || { echo "fine-tune run failed (seed $seed)" >&2; exit 1; }
  read -r ta ts <<<"$out"
  printf '%-6s %9.1f%% %9.1f%% %+10.1f %9s %9s\n' "$seed" "$(awk -v a="$fa" 'BEGIN{print 100*a}')" \
    "$(awk -v a="$ta" 'BEGIN{print 100*a}')" "$(awk -v a="$fa" -v b="$ta" 'BEGIN{print 100*(b-a)}')" "$fs" "$ts"
  rows+="$fa $ta"$'\n'
done
awk 'NF == 2 { n++; f[n] = 100 * $1; t[n] = 100 * $2 }
  function mean(x,   s, i) { s = 0; for (i = 1; i <= n; i++) s += x[i]; return s / n }
  function sd(x, m,   s, i) { s = 0; for (i = 1; i <= n; i++) s += (x[i] - m) ^ 2; return sqrt(s / (n - 1)) }
  function spread(x, m) { return n < 2 ? "n/a" : sprintf("%.1f", sd(x, m)) }
  END {
    if (n == 0) { print "no runs" > "/dev/stderr"; exit 1 }
    for (i = 1; i <= n; i++) d[i] = t[i] - f[i]
    mf = mean(f); mt = mean(t); md = mean(d)
    printf "mean (sd): frozen %.1f%% (%s), fine-tune %.1f%% (%s), fine-tune - frozen %+.1f (%s)", mf, spread(f, mf), mt, spread(t, mt), md, spread(d, md)
    if (n > 1 && sd(d, md) > 0) printf ", paired t = %.2f over %d seeds", md / (sd(d, md) / sqrt(n)), n
    printf "\n"
  }' <<<"$rows"
