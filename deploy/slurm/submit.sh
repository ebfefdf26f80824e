#!/usr/bin/env bash
# Submits the sharded extraction as a Slurm job array, then the train job that waits for all of it.
# Usage: deploy/slurm/submit.sh DATA FEATURES_DIR BUNDLE_DIR [SHARDS=4]
#   DATA: an image folder or a manifest (.csv/.jsonl); FEATURES_DIR and BUNDLE_DIR on a file system every node sees.
#   HEADSTART="dotnet /path/to/Headstart.Cli.dll" if 'headstart' is not on the nodes' PATH.
#   sbatch's own environment variables (SBATCH_PARTITION, SBATCH_ACCOUNT...) apply to both jobs.
# Prints the two job ids ("EXTRACT_ID TRAIN_ID") on stdout.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [ $# -lt 3 ]; then sed -n '3,7p' "$0" >&2; exit 2; fi
DATA="$(realpath -- "$1")" FEATURES="$(realpath -m -- "$2")" BUNDLE="$(realpath -m -- "$3")" SHARDS="${4:-4}"

# Array indices 0..SHARDS-1 are the shard indices (extract's --index-base defaults to 0).
# --parsable prints "jobid" or "jobid;cluster".
extract_id="$(sbatch --parsable --array="0-$((SHARDS - 1))" "$HERE/extract-array.sbatch" "$DATA" "$FEATURES" "$SHARDS")"
extract_id="${extract_id%%;*}"
# afterok on the array's job id waits for every task to end with exit 0 (a requeued task is waited for again).
# If a task fails for good, the dependency can never be met and --kill-on-invalid-dep=yes cancels the train job.
train_id="$(sbatch --parsable --dependency="afterok:$extract_id" --kill-on-invalid-dep=yes \
  "$HERE/train.sbatch" "$FEATURES" "$BUNDLE")"
train_id="${train_id%%;*}"
echo "submitted: extract array $extract_id (shards 0-$((SHARDS - 1))), train $train_id" >&2
echo "$extract_id $train_id"
