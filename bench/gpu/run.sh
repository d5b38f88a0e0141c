#!/usr/bin/env bash
# Runs the GPU benchmark from the kit (bench/gpu/pack.sh) on a machine with a GPU: where PyTorch is installed, a LoRA
# step in PyTorch, then the same steps with mceval's WebGPU backend through Dawn over the NVIDIA Vulkan driver on the
# same card, and the targets from both (targets.ts: LoRA against PyTorch, MonteCLoRA over LoRA, the host's share of
# each step, and the fastest value of each engine setting the bench swept), after a probe of running out of GPU memory
# (out-of-memory.ts), the steps replayed rather than recorded (replay.ts) and the cost of Dawn's index clamps
# (robustness.ts, a process with them and one without), and fineTune's steps on SST-2's row lengths recorded and
# replayed (variable-lengths.ts). JSON files go to $OUT (or ./gpu-bench-out): webgpu.json, torch.json, targets.json,
# out-of-memory.json, replay.json, variable-lengths.json, robustness-on.json, robustness-off.json, gpu.txt.
#   bash .gpu-kit/run.sh [STEPS]
# The whole run stays within MCEVAL_KIT_SECONDS (560 by default: a lent machine's command may run 600 s). PyTorch's
# steps go first, being short, so that the targets have both sides; mceval's bench gets the time left (the runs before
# it leave it 180 s at least), and a bench cut off by it keeps its finished sections in webgpu.err.
set -uo pipefail
KIT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OUT="${OUT:-$PWD/gpu-bench-out}"
STEPS="${1:-10}"
TOTAL="${MCEVAL_KIT_SECONDS:-560}"
# The kit times the defaults and every value itself: no tuning file of the machine's (mceval tune) is applied.
export MCEVAL_WEBGPU_TUNING=off
mkdir -p "$OUT" /tmp/mceval-kit
xz -dc "$KIT/bin/node.xz" >/tmp/mceval-kit/node && chmod +x /tmp/mceval-kit/node
export LD_LIBRARY_PATH="$KIT/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
# The NVIDIA Vulkan driver needs libglvnd's dispatch libraries; where the machine lacks them, the kit's Debian
# packages are unpacked into / (as root) and the linker's cache refreshed, as on the H200 of 2026-12-04.
if ! ldconfig -p 2>/dev/null | grep -q 'libGLdispatch\.so\.0'; then
  for deb in "$KIT"/gl/*.deb; do [[ -f "$deb" ]] && dpkg -x "$deb" /; done
  ldconfig 2>/dev/null || true
fi
for icd in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json; do
  if [[ -f "$icd" ]]; then export VK_ICD_FILENAMES="$icd" VK_DRIVER_FILES="$icd"; break; fi
done
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv >"$OUT/gpu.txt" 2>&1 || true
STORIES=()
[[ -d "$KIT/stories260K" ]] && STORIES=(--stories "$KIT/stories260K")
if python3 -c 'import torch' 2>/dev/null; then
  timeout 150 python3 "$KIT/torch_step.py" --steps "$STEPS" "${STORIES[@]}" >"$OUT/torch.json" 2>"$OUT/torch.err"
  echo "torch: exit $? after ${SECONDS} s"
fi
# Whether running out of GPU memory is a refusal the autos retry, the device computing again after it (seconds).
( cd "$KIT/app" && timeout 90 /tmp/mceval-kit/node out-of-memory.mjs ) >"$OUT/out-of-memory.json" \
  2>"$OUT/out-of-memory.err"
echo "out of memory: exit $? after ${SECONDS} s"
# The runs in processes of their own take at most 75 s each (the replays 120: fineTune's own steps too), and only what
# leaves the bench BENCH_SECONDS (180) and 20 s for the targets and the printout: the bench's first sections are the
# targets' steps. A run given under 20 s is left out (its file stays empty, and targets.ts reads nothing from it).
BENCH_SECONDS=180
limit() {
  local most="${1:-75}" left=$((TOTAL - SECONDS - 20 - BENCH_SECONDS))
  echo $((left < most ? left : most))
}
# Each target's steps recorded and replayed in turn: what the GPU alone takes; and fineTune's LoRA and MonteCLoRA steps
# recorded and replayed (MCEVAL_WEBGPU_REPLAY).
LIMIT=$(limit 120)
if ((LIMIT >= 20)); then
  ( cd "$KIT/app" && timeout "$LIMIT" /tmp/mceval-kit/node replay.mjs --steps "$STEPS" "${STORIES[@]}" ) \
    >"$OUT/replay.json" 2>"$OUT/replay.err"
  echo "replay: exit $? after ${SECONDS} s"
else echo "replay: left out after ${SECONDS} s"; fi
# fineTune's LoRA steps on SST-2's row lengths (the kit's sst2-lengths.json, where pack.sh had the data), shaped two
# ways, recorded and replayed: what the replays save where the batches change shape.
LIMIT=$(limit 60)
if [[ -f "$KIT/app/sst2-lengths.json" ]] && ((LIMIT >= 20)); then
  ( cd "$KIT/app" && timeout "$LIMIT" /tmp/mceval-kit/node variable-lengths.mjs --lengths sst2-lengths.json ) \
    >"$OUT/variable-lengths.json" 2>"$OUT/variable-lengths.err"
  echo "variable lengths: exit $? after ${SECONDS} s"
else echo "variable lengths: left out after ${SECONDS} s"; fi
# Dawn's index clamps on and off: a device setting, so a process each.
for ROBUSTNESS in on off; do
  LIMIT=$(limit)
  if ((LIMIT >= 20)); then
    ( cd "$KIT/app" && MCEVAL_WEBGPU_ROBUSTNESS=$ROBUSTNESS timeout "$LIMIT" /tmp/mceval-kit/node robustness.mjs \
      --steps "$STEPS" ) >"$OUT/robustness-$ROBUSTNESS.json" 2>"$OUT/robustness-$ROBUSTNESS.err"
    echo "robustness $ROBUSTNESS: exit $? after ${SECONDS} s"
  else echo "robustness $ROBUSTNESS: left out after ${SECONDS} s"; fi
done
# What is left, less 20 s for the targets and the printout (at least 10 s).
LEFT=$((TOTAL - SECONDS - 20))
((LEFT < 10)) && LEFT=10
( cd "$KIT/app" && timeout "$LEFT" /tmp/mceval-kit/node bench.mjs --steps "$STEPS" "${STORIES[@]}" ) \
  >"$OUT/webgpu.json" 2>"$OUT/webgpu.err"
echo "webgpu: exit $? after ${SECONDS} s (limit ${LEFT} s)"
# A run cut off by its time limit leaves its finished steps in webgpu.err (replay.err) only.
MEASURED="$OUT/webgpu.json"
[[ -s "$MEASURED" ]] || MEASURED="$OUT/webgpu.err"
REPLAYED="$OUT/replay.json"
[[ -s "$REPLAYED" ]] || REPLAYED="$OUT/replay.err"
( cd "$KIT/app" && /tmp/mceval-kit/node targets.mjs "$MEASURED" "$OUT/torch.json" "$OUT/robustness-on.json" \
  "$OUT/robustness-off.json" "$REPLAYED" ) >"$OUT/targets.json"
echo "targets: exit $?"
tail -c 3000 "$OUT/webgpu.json"; tail -c 1500 "$OUT/torch.json" 2>/dev/null; tail -5 "$OUT/webgpu.err"
cat "$OUT/out-of-memory.json"
cat "$OUT/variable-lengths.json" 2>/dev/null
cat "$OUT/targets.json"
