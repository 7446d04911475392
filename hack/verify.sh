#!/usr/bin/env bash
# Fails when generated files (CRDs, RBAC, deepcopy) differ from what is
# committed, or when Go files are not gofmt-clean. Run through `make verify`,
# which regenerates first.
set -euo pipefail
cd "$(dirname "$0")/.."

status=0
unformatted="$(gofmt -l $(git ls-files '*.go') 2>/dev/null || true)"
if [[ -n "${unformatted}" ]]; then
	echo "verify: these files are not gofmt-clean (run make fmt):" >&2
	echo "${unformatted}" >&2
	status=1
fi

generated=(config/crd/bases config/rbac/role.yaml api/v1alpha1/zz_generated.deepcopy.go)
if ! git diff --quiet --exit-code -- "${generated[@]}"; then
	echo "verify: generated files are stale; commit the output of 'make manifests generate':" >&2
	git diff --stat -- "${generated[@]}" >&2
	status=1
fi
untracked="$(git ls-files --others --exclude-standard -- "${generated[@]}")"
if [[ -n "${untracked}" ]]; then
	echo "verify: generated files are not committed:" >&2
	echo "${untracked}" >&2
	status=1
fi
exit "${status}"
