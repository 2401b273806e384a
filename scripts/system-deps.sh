#!/usr/bin/env bash
# Install the Debian packages the tests and the demo need, only when they are missing. Quiet when present.
set -euo pipefail
need=()
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || need+=(postgresql)
for pkg in "$@"; do
  case "$pkg" in
    chromium) command -v chromium >/dev/null || need+=(chromium) ;;
    # Japanese pages need CJK glyphs in screenshots
    fonts-noto-cjk) dpkg -s fonts-noto-cjk >/dev/null 2>&1 || need+=(fonts-noto-cjk) ;;
  esac
done
[ ${#need[@]} -eq 0 ] && exit 0
echo "Installing Debian packages: ${need[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
