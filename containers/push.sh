#!/usr/bin/env bash
# Build one target of containers/Dockerfile with BuildKit and push it; print its digest.
#   containers/push.sh cpu|gpu
# Env: REGISTRY (e.g. ghcr.io/<owner>; the image is $REGISTRY/replica), REGISTRY_USER and
# REGISTRY_TOKEN (a login is skipped when the token is empty). Run from a clean checkout: the
# commit, its dirty flag and the package version go in as build args, so the image's OCI labels
# and REPLICA_GIT_COMMIT name the code inside it. Tags `<target>-<sha>` and `<target>` are
# conveniences; deploy by the digest this prints (the Helm chart's image.digest/gpuDigest and
# Airflow's REPLICA_IMAGE_* Variables take it).
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:?usage: containers/push.sh cpu|gpu}
case $target in cpu|gpu) ;; *) echo "unknown target $target (cpu|gpu)" >&2; exit 2;; esac
: "${REGISTRY:?set REGISTRY, e.g. ghcr.io/<owner>}"
image="${REGISTRY,,}/replica"  # registries want lower case; owners may not be
sha=$(git rev-parse HEAD)
dirty=false
if [[ -n $(git status --porcelain --untracked-files=no) ]]; then dirty=true; fi
version=$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)

if [[ -n "${REGISTRY_TOKEN:-}" ]]; then
  printf '%s' "$REGISTRY_TOKEN" | docker login "${REGISTRY%%/*}" -u "${REGISTRY_USER:?set REGISTRY_USER}" --password-stdin
fi
meta=$(mktemp)
trap 'rm -f "$meta"' EXIT
docker buildx build \
  --file containers/Dockerfile \
  --target "$target" \
  --build-arg "GIT_SHA=$sha" \
  --build-arg "GIT_DIRTY=$dirty" \
  --build-arg "VERSION=$version" \
  --provenance=false \
  --tag "$image:$target-$sha" \
  --tag "$image:$target" \
  --metadata-file "$meta" \
  --push \
  .
digest=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["containerimage.digest"])' "$meta")
echo "$image@$digest"
if [[ -n "${GITHUB_STEP_SUMMARY:-}" ]]; then
  printf '| %s | `%s@%s` | %s |\n' "$target" "$image" "$digest" "$sha" >> "$GITHUB_STEP_SUMMARY"
fi
