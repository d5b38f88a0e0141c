#!/usr/bin/env bash
# Runs a command with Dawn pointed at the software adapter scripts/setup-webgpu-software.sh unpacked (set up first
# when missing), and MCEVAL_WEBGPU_ALLOW_FALLBACK=1 so that `--backend webgpu` accepts it.
#   bash scripts/with-software-webgpu.sh node bin/run.js doctor --backend webgpu
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup-webgpu-software.sh"
SW="$ROOT/.webgpu-sw/root"
export VK_ICD_FILENAMES="$ROOT/.webgpu-sw/icd.json"
export VK_DRIVER_FILES="$VK_ICD_FILENAMES"
export LD_LIBRARY_PATH="$SW/usr/lib/x86_64-linux-gnu:$SW/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export MCEVAL_WEBGPU_ALLOW_FALLBACK=1
exec "$@"
