#!/usr/bin/env bash
# Debian/Ubuntu packages the project needs at run time:
#   libosmesa6     headless MuJoCo rendering (MUJOCO_GL=osmesa)
#   libgl1         GL dispatch used by MuJoCo's renderer
# Installs them when running as root; otherwise prints the command to run.
set -euo pipefail
pkgs=(libosmesa6 libgl1)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install_system_deps: not a Debian system; install the equivalents of: ${missing[*]}" >&2
  exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
  echo "install_system_deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "install_system_deps: please run: sudo apt-get install -y ${missing[*]}" >&2
  echo "install_system_deps: continuing; headless rendering will not work until then." >&2
fi
