#!/usr/bin/env bash
# Build the service image with podman on a host that cannot reach Docker Hub: the base image is
# made locally with debootstrap (cached in podman's storage), the build uses the host's pip set-up.
#
#   deploy/podman/build-image.sh [TAG]        (default TAG: localhost/textbook-rag:local)
#
# Settings (environment):
#   CONTAINERS_CONF   podman settings (default: deploy/podman/containers.conf beside this script)
#   BASE_IMAGE        the base (default: localhost/debian-py311:bookworm, made when missing)
#   DEBIAN_MIRROR     mirror for debootstrap (default: the one apt uses on this host)
#   HOST_CA_BUNDLE    CA bundle mounted for the pip steps only (default: the system bundle), for
#                     networks whose TLS proxy re-signs PyPI's certificates
#   TORCH_INDEX_URL   where CPU torch comes from (default: PyPI plus a local torch-*+cpu wheel
#                     when one lies in /opt/wheels, else the Dockerfile's PyTorch CPU index)
# Local package folders /opt/wheels and /opt/pypi*/simple, when present, are mounted read-only for
# the build and given to pip; nothing of them, nor the CA bundle, is stored in the image.
# Exit codes: 0 built, 1 failed, 2 bad usage.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
case "${1:-}" in
  -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  -*) echo "build-image: error: unknown option $1 (see --help)" >&2; exit 2 ;;
esac
tag="${1:-localhost/textbook-rag:local}"
export CONTAINERS_CONF="${CONTAINERS_CONF:-$here/containers.conf}"
base="${BASE_IMAGE:-localhost/debian-py311:bookworm}"

command -v podman >/dev/null || { echo "build-image: error: podman not found (apt-get install podman buildah runc)" >&2; exit 1; }

apt_mirror() {
  local uri
  uri="$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' | grep -v security | head -n1 || true)"
  [ -n "$uri" ] || uri="$(grep -hs '^deb ' /etc/apt/sources.list | awk '$3 ~ /^bookworm$/ {print $2}' | head -n1 || true)"
  echo "${uri:-http://deb.debian.org/debian}"
}

if ! podman image exists "$base"; then
  if [ "$base" != "localhost/debian-py311:bookworm" ]; then
    echo "build-image: error: base image $base not found" >&2; exit 1
  fi
  command -v debootstrap >/dev/null || { echo "build-image: error: debootstrap not found (apt-get install debootstrap)" >&2; exit 1; }
  mirror="${DEBIAN_MIRROR:-$(apt_mirror)}"
  rootfs="$(mktemp -d /var/tmp/debian-py311.XXXXXX)"
  trap 'rm -rf "$rootfs"' EXIT
  echo "build-image: making $base with debootstrap from $mirror (about 2 minutes)" >&2
  debootstrap --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates \
    bookworm "$rootfs" "$mirror" >"$rootfs.log" 2>&1 || { tail -n 20 "$rootfs.log" >&2; exit 1; }
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -c . | podman import --quiet - "$base" >/dev/null
  rm -rf "$rootfs" "$rootfs.log"
  trap - EXIT
fi

volumes=()
pip_options=()
ca="${HOST_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"
if [ -f "$ca" ]; then
  volumes+=(-v "$ca:/run/host-ca.crt:ro")
  pip_options+=(--cert /run/host-ca.crt)
fi
if [ -d /opt/wheels ]; then
  volumes+=(-v /opt/wheels:/opt/wheels:ro)
  pip_options+=(--find-links /opt/wheels)
fi
for index in /opt/pypi*/simple; do
  [ -d "$index" ] || continue
  volumes+=(-v "$(dirname "$index"):$(dirname "$index"):ro")
  pip_options+=(--extra-index-url "file://$index")
done
build_args=(--build-arg "BASE_IMAGE=$base" --build-arg "PIP_OPTIONS=${pip_options[*]}")
torch_index="${TORCH_INDEX_URL:-}"
if [ -z "$torch_index" ] && compgen -G '/opt/wheels/torch-2.13.0+cpu-*.whl' >/dev/null; then
  torch_index="https://pypi.org/simple"  # the local +cpu wheel wins over PyPI's CUDA build
fi
[ -z "$torch_index" ] || build_args+=(--build-arg "TORCH_INDEX_URL=$torch_index")

echo "build-image: building $tag from $base" >&2
# --format docker keeps HEALTHCHECK (the OCI image format has no field for it)
podman build --format docker --layers "${build_args[@]}" "${volumes[@]}" -t "$tag" -f "$root/Dockerfile" "$root"
size="$(podman image inspect --format '{{.Size}}' "$tag")"
echo "build-image: built $tag ($((size / 1000000)) MB)" >&2
