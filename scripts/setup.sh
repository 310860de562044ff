#!/usr/bin/env bash
# Sets up bondlab on a fresh Debian 12 machine (as root): system packages, then .venv with bondlab.
# Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(librist-dev rist-tools iproute2 qemu-system-x86 linux-image-amd64 busybox-static
              python3-venv python3-dev gcc pkg-config chromium)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.bondlab-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ setup.py -nt "$stamp" ] \
   || [ bondlab/real/_librist_build.py -nt "$stamp" ] || [ bondlab/real/_librist_cdef.py -nt "$stamp" ]; then
  echo "setup: installing bondlab and its Python dependencies into .venv" >&2
  .venv/bin/python -m pip install -q --upgrade pip setuptools wheel cffi
  .venv/bin/python -m pip install -q -e ".[dev,vm]"
  touch "$stamp"
fi
