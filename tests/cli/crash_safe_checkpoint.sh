#!/usr/bin/env bash
# A training process killed (SIGKILL) while it writes its checkpoint never leaves a damaged one:
# the previous checkpoint still loads, and resuming from it ends bit-identical to a run that was
# never interrupted: the same validation and test AUC and logloss to the last bit (summary.json
# prints doubles exactly), steps and best step. (The checkpoints themselves differ only in the
# wall-clock seconds they record.)
#
#   crash_safe_checkpoint.sh EMBCOMP OUT_DIR
#
# The kills are placed exactly with the fault injection of write_file_atomically
# (EMBCOMP_FAULT_KILL_FILE / EMBCOMP_FAULT_KILL_AT=<n-th write>,<byte>): in the first write
# (nothing to fall back to yet) and in a later one, at its first byte, inside its header,
# halfway and one byte before its end.
set -euo pipefail
embcomp=$1
out=$2
rm -rf "$out"
mkdir -p "$out"

args=(train --scale 0.0005 --train-rows 3000 --val-rows 600 --test-rows 600 --method full
      --dim 8 --batch 128 --optimizer adam --epochs 1 --evals-per-epoch 5 --threads 2)

# summary.json without what depends on the clock.
outcome() { grep -v -E 'seconds|per_second|peak_training' "$1/summary.json"; }

"$embcomp" "${args[@]}" --checkpoint "$out/ref.ckpt" --out "$out/ref" > "$out/ref.log"
size=$(stat -c %s "$out/ref.ckpt")
echo "reference run: checkpoints of $size bytes"

for point in "1,0" "1,$((size / 2))" "3,0" "3,40" "3,$((size / 2))" "3,$((size - 1))"; do
  write=${point%,*}
  ckpt="$out/run_${point/,/_}.ckpt"
  set +e
  EMBCOMP_FAULT_KILL_FILE="$ckpt" EMBCOMP_FAULT_KILL_AT="$point" \
    "$embcomp" "${args[@]}" --checkpoint "$ckpt" > "$out/killed.log" 2>&1
  rc=$?
  set -e
  if [[ $rc -ne 137 ]]; then
    echo "FAIL: write $point: the run was to be killed (exit 137), it exited $rc"
    cat "$out/killed.log"
    exit 1
  fi
  [[ -e "$ckpt.tmp" ]] || { echo "FAIL: write $point: no partial $ckpt.tmp: the kill hit no write"; exit 1; }
  if [[ $write -eq 1 ]]; then
    # Nothing to fall back to: no checkpoint at all (never a truncated one); a new run replaces
    # the partial file and ends as the reference.
    [[ ! -e "$ckpt" ]] || { echo "FAIL: write $point: a checkpoint exists after a killed first write"; exit 1; }
    "$embcomp" "${args[@]}" --checkpoint "$ckpt" --out "$out/rerun" > "$out/resumed.log"
  else
    # The checkpoint of write n-1 survived whole: it loads, and resuming from it ends as the
    # reference.
    "$embcomp" info "$ckpt" > "$out/info.log"
    "$embcomp" "${args[@]}" --resume "$ckpt" --checkpoint "$ckpt" --out "$out/rerun" > "$out/resumed.log"
  fi
  if ! diff <(outcome "$out/ref") <(outcome "$out/rerun"); then
    echo "FAIL: write $point: the recovered run ends differently from the uninterrupted one"
    exit 1
  fi
  [[ ! -e "$ckpt.tmp" ]] || { echo "FAIL: write $point: $ckpt.tmp left after a completed run"; exit 1; }
  rm -rf "$out/rerun"
  echo "killed in checkpoint write $write at byte ${point#*,}: recovered, bit-identical outcome"
done
echo "crash_safe_checkpoint: every kill recovered bit-identically"
