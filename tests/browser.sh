#!/usr/bin/env bash
# Make sure a headless browser is there for tests/packaging/test_posture_html.py (issue 20: the posture page is
# opened in Debian's `chromium` package). Prints the browser's path on stdout and exits 0; when it is missing and
# cannot be installed (not root, no apt, no candidate, the install failed) it says why on stderr and exits 1, so the
# test fails rather than skips.
set -uo pipefail
# one at a time: the pytest workers call this at once, and a second apt-get fails on dpkg's lock while the first
# installs (seen on a fresh machine); the waiter then finds the browser the first one installed
exec 9>"${TMPDIR:-/tmp}/azure-cvm-browser.lock"
flock -w 900 9 || { echo "browser.sh: waited 900 s for another browser.sh to finish installing chromium." >&2; exit 1; }
for name in chromium chromium-browser; do
  if path=$(command -v "$name"); then echo "$path"; exit 0; fi
done
if [ "$(id -u)" -ne 0 ]; then
  echo "browser.sh: chromium is not installed and we are not root: run 'apt-get install chromium' (Debian) first." >&2
  exit 1
fi
if ! command -v apt-get >/dev/null; then
  echo "browser.sh: chromium is not installed and there is no apt-get here to install Debian's chromium package." >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null 2>&1 || echo "browser.sh: apt-get update failed; trying the cached package lists." >&2
candidate=$(apt-cache policy chromium 2>/dev/null | awk '/Candidate:/ {print $2}')
if [ -z "$candidate" ] || [ "$candidate" = "(none)" ]; then
  echo "browser.sh: the package lists have no chromium candidate (apt-cache policy chromium); add Debian main to the sources." >&2
  exit 1
fi
log=$(mktemp)
if ! apt-get install -y -qq -o DPkg::Lock::Timeout=600 --no-install-recommends chromium >"$log" 2>&1; then
  echo "browser.sh: apt-get install chromium $candidate failed:" >&2
  tail -n 20 "$log" >&2
  rm -f "$log"
  exit 1
fi
rm -f "$log"
if ! path=$(command -v chromium); then
  echo "browser.sh: chromium $candidate was installed but is not on PATH." >&2
  exit 1
fi
echo "$path"
