#!/usr/bin/env bash
# Runs a command with Dawn on its OpenGL ES backend over Mesa's software GL (llvmpipe through EGL, no display): a second
# WebGPU implementation beside lavapipe's Vulkan, whose shader compiler (WGSL to GLSL) and scheduling differ — it
# caught a workgroup-memory race that lavapipe let pass. Debian's EGL and GL packages are installed when missing (as
# root; otherwise the script says which to install).
#   bash scripts/with-gl-webgpu.sh node --test dist/test/webgpu/
set -euo pipefail
PACKAGES=(libegl1 libegl-mesa0 libgl1-mesa-dri libgles2)
missing=()
for package in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  if [[ "$(id -u)" != 0 ]]; then
    echo "with-gl-webgpu: Mesa's EGL/GL is missing: apt-get install ${missing[*]}" >&2
    exit 1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null
fi
export EGL_PLATFORM=surfaceless
export MCEVAL_DAWN_FLAGS=backend=opengles
export MCEVAL_WEBGPU_ALLOW_FALLBACK=1
exec "$@"
