#!/usr/bin/env bash
# A software WebGPU adapter for machines without a GPU (CI, these 2-core boxes): Mesa's lavapipe (Vulkan on llvmpipe)
# from Debian's bookworm-backports suite — bookworm's own mesa 22.3 is refused by Dawn — and the Vulkan loader, downloaded
# as .deb files with apt-get (Debian's registry only) and unpacked into .webgpu-sw/ in the repository; nothing is
# installed system-wide. Prints the environment that points Dawn at it; scripts/with-software-webgpu.sh uses it.
#   bash scripts/setup-webgpu-software.sh
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="$ROOT/.webgpu-sw"
if [[ -f "$DEST/icd.json" ]]; then
  echo "software WebGPU adapter already in $DEST" >&2
  exit 0
fi
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
URI="$( (grep -h -oE 'https?://[^ ]+/debian/?$' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null || true) | head -n1)"
URI="${URI:-http://deb.debian.org/debian}"
mkdir -p "$WORK/lists/partial" "$WORK/cache/archives/partial" "$WORK/debs"
cat >"$WORK/sources.list" <<EOF
deb $URI bookworm main
deb $URI bookworm-backports main
EOF
APT=(-o "Dir::Etc::SourceList=$WORK/sources.list" -o "Dir::Etc::SourceParts=-" -o "Dir::State::Lists=$WORK/lists"
  -o "Dir::Cache=$WORK/cache" -o "Debug::NoLocking=1")
apt-get "${APT[@]}" update -q >/dev/null 2>&1
# lavapipe 25 and the libdrm it needs from backports; the loader and the rest from bookworm (each fetched alone, so
# one already missing from the mirror does not stop the others).
PACKAGES=(mesa-vulkan-drivers/bookworm-backports libdrm2/bookworm-backports libdrm-amdgpu1/bookworm-backports
  libvulkan1 libllvm15 libz3-4 libedit2 libxml2 libicu72 libelf1 libsensors5 libwayland-client0 libx11-xcb1 libxcb1
  libxcb-dri3-0 libxcb-present0 libxcb-randr0 libxcb-shm0 libxcb-sync1 libxcb-xfixes0 libxshmfence1 libxau6
  libxdmcp6 libbsd0 libmd0 libzstd1 libexpat1)
for package in "${PACKAGES[@]}"; do
  (cd "$WORK/debs" && apt-get "${APT[@]}" download -q "$package" >/dev/null 2>&1) ||
    echo "setup-webgpu-software: could not download $package (continuing)" >&2
done
ls "$WORK/debs"/mesa-vulkan-drivers_*.deb >/dev/null
mkdir -p "$DEST/root"
for deb in "$WORK/debs"/*.deb; do dpkg -x "$deb" "$DEST/root"; done
LVP="$(find "$DEST/root" -name 'libvulkan_lvp.so' | head -n1)"
[[ -n "$LVP" ]] || { echo "setup-webgpu-software: libvulkan_lvp.so not found in the backports packages" >&2; exit 1; }
cat >"$DEST/icd.json" <<EOF
{ "file_format_version": "1.0.0", "ICD": { "library_path": "$LVP", "api_version": "1.3.0" } }
EOF
echo "software WebGPU adapter (lavapipe $(basename "$(ls "$WORK"/debs/mesa-vulkan-drivers_*.deb)")) in $DEST" >&2
