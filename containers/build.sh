#!/usr/bin/env bash
# Build the replica image offline with podman: bootstrap a Debian 12 base with mmdebstrap (no
# container registry is reachable), then build containers/Dockerfile on it.
#   containers/build.sh [cpu|gpu]        -> localhost/replica:<target>
# Env: REPLICA_BASE (base tag, built when missing), APT_MIRROR (default: the machine's apt source),
# CA_BUNDLE (mounted so pip trusts the registry proxy), WHEELS (local wheel dir, e.g. CPU torch).
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:-cpu}
base=${REPLICA_BASE:-localhost/replica-base:bookworm}
ca=${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
wheels=${WHEELS:-/opt/wheels}
export CONTAINERS_CONF=${CONTAINERS_CONF:-$PWD/containers/containers.conf}

if ! podman image exists "$base"; then
    mirror=${APT_MIRROR:-$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)}
    mirror=${mirror:-http://deb.debian.org/debian}
    tar=$(mktemp --suffix=.tar)
    trap 'rm -f "$tar"' EXIT
    start=$SECONDS
    mmdebstrap --quiet --variant=apt --include=python3,python3-venv,ca-certificates,passwd \
        bookworm "$tar" "$mirror"
    podman import --quiet --change 'CMD ["/bin/bash"]' "$tar" "$base" > /dev/null
    echo "base $base bootstrapped in $((SECONDS - start)) s"
fi

args=(--target "$target" --build-arg "BASE=$base" -f containers/Dockerfile -t "localhost/replica:$target")
args+=(--build-arg "GIT_SHA=$(git rev-parse HEAD 2>/dev/null || echo unknown)")
args+=(--build-arg "GIT_DIRTY=$(if [[ -z $(git status --porcelain --untracked-files=no 2>/dev/null) ]]; then echo false; else echo true; fi)")
args+=(--build-arg "VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)")
[[ -f $ca ]] && args+=(-v "$ca:/etc/ssl/certs/ca-certificates.crt:ro")
if [[ -d $wheels ]]; then  # the lock's CPU torch comes from here instead of PyTorch's index
    args+=(-v "$wheels:/wheels:ro" --build-arg PIP_FIND_LINKS=/wheels --build-arg PIP_EXTRA_INDEX_URL=)
fi
log=${BUILD_LOG:-build/container-$target.log}
mkdir -p "$(dirname "$log")"
start=$SECONDS
if ! podman build "${args[@]}" . > "$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "podman build failed; full log: $log" >&2
    exit 1
fi
echo "image localhost/replica:$target built in $((SECONDS - start)) s" \
    "($(podman image inspect --format '{{.Size}}' "localhost/replica:$target" | numfmt --to=iec))"
