#!/usr/bin/env bash
# hack/browser.sh: what the browser tests need, installed once.
#   hack/browser.sh env    installs Debian's chromium when it is missing (as
#                          root, with apt-get) and axe-core from npm into a
#                          cache beside the envtest binaries, then prints
#                          CHROMIUM=... and AXE_CORE=... for eval.
# The tests (test/center) run it themselves; nothing downloads a browser of
# its own (no network for that here).
set -euo pipefail

AXE_VERSION="${AXE_VERSION:-4.14.1}"
CACHE="${PRIVACY_TOOLS_CACHE:-${HOME}/.local/share/kubebuilder-envtest}/axe-core-${AXE_VERSION}"

log() { echo "hack/browser.sh: $*" >&2; }

chromium_path() {
	for c in chromium chromium-browser; do
		if command -v "$c" >/dev/null; then command -v "$c"; return 0; fi
	done
	return 1
}

install_chromium() {
	if [[ "$(id -u)" != 0 ]] || ! command -v apt-get >/dev/null; then
		log "chromium is not installed and cannot be installed here (needs root and apt-get)"
		return 1
	fi
	log "installing chromium from Debian's packages"
	DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >&2
}

install_axe() {
	local js="${CACHE}/node_modules/axe-core/axe.min.js"
	if [[ -s "$js" ]]; then echo "$js"; return 0; fi
	command -v npm >/dev/null || { log "npm is not installed: it installs axe-core"; return 1; }
	log "installing axe-core ${AXE_VERSION} from npm into ${CACHE}"
	local tmp
	tmp="$(mktemp -d "${CACHE}.XXXXXX")"
	(cd "$tmp" && npm install --silent --no-audit --no-fund --prefix "$tmp" "axe-core@${AXE_VERSION}" >&2)
	rm -rf "$CACHE"
	mv "$tmp" "$CACHE"
	echo "$js"
}

case "${1:-env}" in
env)
	mkdir -p "$(dirname "$CACHE")"
	chrome="$(chromium_path || { install_chromium && chromium_path; })"
	axe="$(install_axe)"
	echo "CHROMIUM=${chrome}"
	echo "AXE_CORE=${axe}"
	;;
*)
	log "usage: hack/browser.sh env"
	exit 2
	;;
esac
