#!/usr/bin/env bash
# Builds the GPU kit in .gpu-kit/ (git-ignored; carried to a GPU machine that has no Node.js and no network): this
# machine's node, stripped and xz-compressed; Dawn (dawn.node from npm webgpu, stripped) with its tiny loader module;
# the Vulkan loader libvulkan.so.1 from Debian (as scripts/setup-webgpu-software.sh unpacks it) and Debian's GL
# dispatch packages (libglvnd0, libglx0, libegl1, libgl1) for the NVIDIA driver; an esbuild bundle of
# bench/gpu/bench.ts with the attention kernels' .wasm, of bench/gpu/out-of-memory.ts, bench/gpu/robustness.ts,
# bench/gpu/replay.ts, bench/gpu/variable-lengths.ts and bench/gpu/targets.ts; the PyTorch reference step; stories260K
# and SST-2's training rows' lengths (bench/gpu/task-lengths.ts) when ../shared has them; and run.sh. Prints its size.
#   npm run build && bash bench/gpu/pack.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
KIT="$ROOT/.gpu-kit"
rm -rf "$KIT"
mkdir -p "$KIT/bin" "$KIT/lib" "$KIT/app/node_modules/webgpu/dist/linux-x64"
NODE="$(readlink -f "$(command -v node)")"
strip --strip-unneeded -o "$KIT/bin/node" "$NODE"
xz -9 -T0 "$KIT/bin/node"
cp "$ROOT/node_modules/webgpu/index.js" "$ROOT/node_modules/webgpu/package.json" "$KIT/app/node_modules/webgpu/"
strip --strip-unneeded -o "$KIT/app/node_modules/webgpu/dist/linux-x64/dawn.node" \
  "$ROOT/node_modules/webgpu/dist/linux-x64/dawn.node"
bash "$ROOT/scripts/setup-webgpu-software.sh"
cp -L "$ROOT"/.webgpu-sw/root/usr/lib/x86_64-linux-gnu/libvulkan.so.1 "$KIT/lib/"
# The NVIDIA Vulkan driver (libGLX_nvidia.so.0) gives the loader no vkCreateInstance without the GL vendor-neutral
# dispatch libraries (libglvnd), which a lent H200 lacked: Debian's packages go in the kit, for run.sh to unpack there.
mkdir -p "$KIT/gl"
(cd "$KIT/gl" && apt-get download -q libglvnd0 libglx0 libegl1 libgl1 >/dev/null 2>&1) ||
  echo "pack: could not download the GL libraries (libglvnd0 libglx0 libegl1 libgl1) from Debian" >&2
"$ROOT/node_modules/.bin/esbuild" "$ROOT/dist/bench/gpu/bench.js" --bundle --platform=node --format=esm \
  --external:webgpu --ignore-annotations --outfile="$KIT/app/bench.mjs" --log-level=warning \
  --banner:js="import{createRequire as __cr}from'node:module';const require=__cr(import.meta.url);"
"$ROOT/node_modules/.bin/esbuild" "$ROOT/dist/bench/gpu/out-of-memory.js" --bundle --platform=node --format=esm \
  --external:webgpu --ignore-annotations --outfile="$KIT/app/out-of-memory.mjs" --log-level=warning \
  --banner:js="import{createRequire as __cr}from'node:module';const require=__cr(import.meta.url);"
for APP in robustness replay variable-lengths; do
  "$ROOT/node_modules/.bin/esbuild" "$ROOT/dist/bench/gpu/$APP.js" --bundle --platform=node --format=esm \
    --external:webgpu --ignore-annotations --outfile="$KIT/app/$APP.mjs" --log-level=warning \
    --banner:js="import{createRequire as __cr}from'node:module';const require=__cr(import.meta.url);"
done
"$ROOT/node_modules/.bin/esbuild" "$ROOT/dist/bench/gpu/targets.js" --bundle --platform=node --format=esm \
  --outfile="$KIT/app/targets.mjs" --log-level=warning
# The WebAssembly kernels the cpu reference runs, found next to the bundle (import.meta.url).
cp "$ROOT/dist/src/engine/kernels/kernels.wasm" "$ROOT/dist/src/engine/kernels/kernels-relaxed.wasm" "$KIT/app/"
cp "$ROOT/bench/gpu/torch_step.py" "$ROOT/bench/gpu/run.sh" "$KIT/"
if [[ -d "$ROOT/../shared/models/stories260K/hf" ]]; then cp -r "$ROOT/../shared/models/stories260K/hf" "$KIT/stories260K"; fi
# SST-2's training rows' lengths as builtin:medium encodes them (their lengths only: the kit carries no text).
if [[ -d "$ROOT/../shared/data/sst2" ]]; then
  node "$ROOT/dist/bench/gpu/task-lengths.js" --task sst2 --data "$ROOT/../shared/data" --model builtin:medium \
    --train-limit 3200 >"$KIT/app/sst2-lengths.json"
fi
du -sh "$KIT" >&2
