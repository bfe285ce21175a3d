#!/usr/bin/env bash
# Build the execution environment of ee/execution-environment.yml with podman and run the readiness playbook inside
# it against the local Azure. Not part of `make test` (it takes minutes and needs root, podman, buildah, debootstrap:
# `apt-get install podman buildah debootstrap` on Debian 12).
#
# The public base image (ghcr.io/ansible-community/community-ee-minimal) is not reachable from a machine that reaches
# only PyPI and Debian, so this script makes a stand-in base locally: Debian 12 by debootstrap, with the same
# ansible-core as that image (2.19.3) and ansible-runner from PyPI in a venv (/opt/ee-python: Debian's system Python
# refuses the `ensurepip` that ansible-builder's pip_install script runs), and a `dnf` shim over apt-get because
# ansible-builder's scripts call the package manager as `$PKGMGR install -y ...` / `$PKGMGR clean all`. Everything
# above the base (the galaxy, builder and final stages of ansible-builder's Containerfile) is the real definition.
#
#   bash tests/ee_build.sh            # base (cached), EE image, readiness run; exit 0 when the run succeeded
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=${BIN:-$(dirname "$(command -v python)")}
BASE=localhost/azure-cvm-ee-base:bookworm
IMAGE=localhost/azure-cvm-backup-ee:test
WORK=$ROOT/.build/ee
# This machine's limits: no cgroup v2 for crun (hybrid mode) and no CAP_SYS_RESOURCE, so builds run with chroot
# isolation and the run uses buildah's chroot isolation too; the host network reaches PyPI and the local Azure.
BUILD_ARGS="--isolation chroot --network host"

for tool in podman buildah debootstrap; do
  command -v "$tool" >/dev/null || { echo "ee_build: $tool is missing (apt-get install podman buildah debootstrap)"; exit 2; }
done
mkdir -p "$WORK"

# 1. the stand-in base image
if ! podman image exists "$BASE"; then
  if [ ! -x "$WORK/rootfs/usr/bin/python3" ]; then
    rm -rf "$WORK/rootfs"
    debootstrap --variant=minbase --include=python3,python3-pip,python3-venv,ca-certificates bookworm \
      "$WORK/rootfs" http://deb.debian.org/debian
  fi
  tar -C "$WORK/rootfs" -c . | podman import - localhost/azure-cvm-ee-debootstrap:bookworm
  base_ctx=$(mktemp -d "$WORK/base.XXXXXX")
  cp /etc/ssl/certs/ca-certificates.crt "$base_ctx/host-ca.crt"   # the CAs this machine reaches PyPI with
  cat > "$base_ctx/dnf" <<'SH'
#!/bin/sh
# ansible-builder's assemble / install-from-bindep call the package manager like dnf; this base is Debian.
case "$1" in
  install) shift; pkgs=$(printf '%s\n' "$@" | grep -v -e '^-' -e '=' | tr '\n' ' ')
           [ -z "$pkgs" ] || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=600 --no-install-recommends $pkgs; } ;;
  clean) apt-get clean; rm -rf /var/lib/apt/lists/* ;;
  *) echo "dnf shim: unsupported: $*" >&2; exit 1 ;;
esac
SH
  cat > "$base_ctx/Containerfile" <<'EOF'
FROM localhost/azure-cvm-ee-debootstrap:bookworm
COPY host-ca.crt /etc/ssl/certs/host-ca.crt
COPY --chmod=0755 dnf /usr/bin/dnf
ENV PIP_CERT=/etc/ssl/certs/host-ca.crt PIP_DISABLE_PIP_VERSION_CHECK=1 PATH=/opt/ee-python/bin:$PATH
RUN python3 -m venv /opt/ee-python \
 && /opt/ee-python/bin/python3 -m pip install --no-cache-dir 'ansible-core==2.19.3' 'ansible-runner==2.4.3'
EOF
  # shellcheck disable=SC2086
  podman build $BUILD_ARGS -t "$BASE" "$base_ctx"
  rm -rf "$base_ctx"
fi

# 2. the collection tarball where ee/execution-environment.yml expects it, then the EE image
rm -f "$WORK"/azure_cvm-backup*.tar.gz
"$BIN/ansible-galaxy" collection build --force --output-path "$WORK" . >/dev/null
mv "$WORK"/azure_cvm-backup-*.tar.gz "$WORK/azure_cvm-backup.tar.gz"
"$BIN/ansible-builder" build -f ee/execution-environment.yml --context "$WORK/context" --container-runtime podman \
  --build-arg EE_BASE_IMAGE="$BASE" --build-arg PYCMD=/opt/ee-python/bin/python3 --extra-build-cli-args "$BUILD_ARGS" -t "$IMAGE" -v 3

# 3. the readiness playbook inside the image against the local Azure (demo scenario)
sim_dir=$(mktemp -d "$WORK/sim.XXXXXX")
"$BIN/python" -m tests.azure_sim --scenario demo --state-dir "$sim_dir" --env-file "$sim_dir/env" >"$sim_dir/log" 2>&1 &
sim_pid=$!
ctr=""
cleanup() { kill "$sim_pid" 2>/dev/null || true; [ -z "$ctr" ] || buildah rm "$ctr" >/dev/null; rm -rf "$sim_dir"; }
trap cleanup EXIT
for _ in $(seq 100); do [ -s "$sim_dir/env" ] && break; sleep 0.2; done
# shellcheck disable=SC1091
. "$sim_dir/env"
ctr=$(buildah from "$IMAGE")
run() { buildah run --isolation chroot --network host -v "$REQUESTS_CA_BUNDLE:/tmp/sim-ca.pem:ro" \
  --env HTTPS_PROXY="$HTTPS_PROXY" --env NO_PROXY=127.0.0.1,localhost --env REQUESTS_CA_BUNDLE=/tmp/sim-ca.pem \
  --env AZURE_SUBSCRIPTION_ID="$AZURE_SUBSCRIPTION_ID" --env AZURE_CLIENT_ID="$AZURE_CLIENT_ID" \
  --env AZURE_SECRET="$AZURE_SECRET" --env AZURE_TENANT="$AZURE_TENANT" --env ANSIBLE_NOCOLOR=1 \
  --env HOME=/runner "$ctr" -- "$@"; }
run ansible --version
run ansible-galaxy collection list azure_cvm.backup
run ansible-playbook -i localhost, azure_cvm.backup.readiness_report -e cvm_report_json=/tmp/readiness.json
run /opt/ee-python/bin/python3 -c 'import json; r = json.load(open("/tmp/readiness.json")); print("ee_build: readiness of", len(r["vms"]), "VMs read inside the image")'
