#!/usr/bin/env bash
# Installs Debian's Chromium (/usr/bin/chromium) for the docs site test (site/test), when it is missing.
# Idempotent and quiet: prints one line, and apt's output only when an install fails.
# The test drives it with playwright-core; no browser is ever downloaded by Playwright itself.
set -uo pipefail
bin=/usr/bin/chromium
if [ -x "$bin" ]; then
  echo "ensure-chromium: $("$bin" --version 2>/dev/null || echo "$bin") already installed"
  exit 0
fi
if [ "$(id -u)" -ne 0 ] && ! command -v sudo >/dev/null 2>&1; then
  echo "ensure-chromium: $bin is missing and this user cannot install packages (not root, no sudo)" >&2
  exit 1
fi
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
log=$(mktemp)
trap 'rm -f "$log"' EXIT
export DEBIAN_FRONTEND=noninteractive
# An install cut off earlier (by anyone) leaves dpkg "interrupted", and apt then refuses every install:
# finish its configuration first.
as_root dpkg --configure -a >"$log" 2>&1 || true
if as_root apt-get update -qq >"$log" 2>&1 &&
  as_root apt-get install -y -qq --no-install-recommends chromium >>"$log" 2>&1 && [ -x "$bin" ]; then
  echo "ensure-chromium: installed $("$bin" --version 2>/dev/null)"
  exit 0
fi
cat "$log" >&2
echo "ensure-chromium: could not install Debian's chromium package" >&2
exit 1
