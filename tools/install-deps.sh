#!/usr/bin/env bash
# Installs what building btfit needs on Debian or Ubuntu (as root, or with sudo), skipping
# packages that are already there. The CUDA toolkit is optional: with nvcc on PATH the CUDA
# backend is built too. zlib and libzstd (gzip and zstd input) are optional to the build:
# without them btfit still builds and says so for such files.
set -euo pipefail
packages=(build-essential cmake libeigen3-dev libcli11-dev libgtest-dev zlib1g-dev libzstd-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""
  [[ $(id -u) -ne 0 ]] && sudo="sudo"
  echo "installing: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
fi
