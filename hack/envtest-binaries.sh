#!/usr/bin/env bash
# Prepares the binaries that controller-runtime's envtest needs (etcd,
# kube-apiserver, kubectl) and prints the directory that holds them, for use as
# KUBEBUILDER_ASSETS.
#
# With --node it also builds what a real one-node cluster needs
# (kube-controller-manager, kube-scheduler, kubelet, kube-proxy: hack/cluster),
# from the same module set, into the same directory and build cache.
#
# Order of preference:
#   1. a preset KUBEBUILDER_ASSETS that already holds all three binaries;
#   2. the setup-envtest cache ($XDG_DATA_HOME/kubebuilder-envtest/k8s/<version>-<os>-<arch>);
#   3. setup-envtest's download (works on a laptop with internet access);
#   4. building the binaries from the Go module proxy (works anywhere Go works).
# The result of 3 and 4 lands in the cache of 2, so only the first run is slow.
#
# All progress goes to stderr; stdout carries only the directory.
set -euo pipefail

K8S_VERSION="${ENVTEST_K8S_VERSION:-1.37.2}"
ETCD_VERSION="${ENVTEST_ETCD_VERSION:-3.6.16}"
SETUP_ENVTEST_VERSION="${SETUP_ENVTEST_VERSION:-v0.25.1}"
GO="${GO:-go}"

log() { echo "envtest-binaries: $*" >&2; }

KUBE_CMDS=(kube-apiserver kubectl)
if [[ "${1:-}" == "--node" ]]; then
	KUBE_CMDS+=(kube-controller-manager kube-scheduler kubelet kube-proxy)
fi

has_all() {
	[[ -x "$1/etcd" ]] || return 1
	local cmd
	for cmd in "${KUBE_CMDS[@]}"; do [[ -x "$1/${cmd}" ]] || return 1; done
}

if [[ -n "${KUBEBUILDER_ASSETS:-}" ]] && has_all "${KUBEBUILDER_ASSETS}"; then
	echo "${KUBEBUILDER_ASSETS}"
	exit 0
fi

GOOS="$("${GO}" env GOOS)"
GOARCH="$("${GO}" env GOARCH)"
DATA_HOME="${XDG_DATA_HOME:-${HOME}/.local/share}"
ASSETS="${DATA_HOME}/kubebuilder-envtest/k8s/${K8S_VERSION}-${GOOS}-${GOARCH}"

if has_all "${ASSETS}"; then
	echo "${ASSETS}"
	exit 0
fi
mkdir -p "${ASSETS}"

# setup-envtest first: where it can download, that is the fastest and the
# canonical source. It fails quickly on a machine without internet access.
if [[ "${ENVTEST_SKIP_DOWNLOAD:-}" != "1" ]]; then
	log "trying setup-envtest ${SETUP_ENVTEST_VERSION} for Kubernetes ${K8S_VERSION}"
	if dir="$(timeout 120 "${GO}" run "sigs.k8s.io/controller-runtime/tools/setup-envtest@${SETUP_ENVTEST_VERSION}" \
		use "${K8S_VERSION}" --bin-dir "${DATA_HOME}/kubebuilder-envtest" -p path 2>/dev/null)" && has_all "${dir}"; then
		echo "${dir}"
		exit 0
	fi
	log "setup-envtest could not provide the binaries; building them from the Go module proxy"
fi

WORK="$(mktemp -d)"
trap 'rm -rf "${WORK}"' EXIT

build_etcd() {
	log "building etcd v${ETCD_VERSION} (about a minute)"
	local dir="${WORK}/etcd"
	mkdir -p "${dir}"
	cat >"${dir}/go.mod" <<MOD
module envtest.local/etcd

go 1.26

require go.etcd.io/etcd/server/v3 v${ETCD_VERSION}
MOD
	(cd "${dir}" && GOFLAGS=-mod=mod "${GO}" build -trimpath -o "${ASSETS}/etcd.tmp" go.etcd.io/etcd/server/v3)
	mv "${ASSETS}/etcd.tmp" "${ASSETS}/etcd"
}

build_kube() {
	log "building ${missing[*]} v${K8S_VERSION} (about six minutes for the first two on two cores, three more per node component)"
	local dir="${WORK}/kube" minor="${K8S_VERSION#*.}" gomod
	local staging_version="v0.${minor}"
	mkdir -p "${dir}"
	gomod="$(GOFLAGS=-mod=mod "${GO}" mod download -json "k8s.io/kubernetes@v${K8S_VERSION}" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
	{
		echo "module envtest.local/kube"
		echo
		echo "go 1.26"
		echo
		echo "require k8s.io/kubernetes v${K8S_VERSION}"
		echo
		echo "replace ("
		# k8s.io/kubernetes replaces each staging module with a local path;
		# point each one at its published release instead.
		sed -n '/^replace (/,/^)/p' "${gomod}" | sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\1#p' |
			while read -r mod; do echo "	${mod} => ${mod} ${staging_version}"; done
		echo ")"
	} >"${dir}/go.mod"
	local pkg=k8s.io/component-base/version
	local ldflags="-s -w -X ${pkg}.gitVersion=v${K8S_VERSION} -X ${pkg}.gitMajor=1 -X ${pkg}.gitMinor=${minor%%.*}"
	ldflags+=" -X ${pkg}.gitTreeState=clean -X ${pkg}.buildDate=1970-01-01T00:00:00Z"
	ldflags+=" -X k8s.io/client-go/pkg/version.gitVersion=v${K8S_VERSION} -X k8s.io/client-go/pkg/version.gitMajor=1"
	ldflags+=" -X k8s.io/client-go/pkg/version.gitMinor=${minor%%.*}"
	local cmd
	for cmd in "${missing[@]}"; do
		(cd "${dir}" && GOFLAGS=-mod=mod "${GO}" build -trimpath -ldflags "${ldflags}" -o "${ASSETS}/${cmd}.tmp" "k8s.io/kubernetes/cmd/${cmd}")
		mv "${ASSETS}/${cmd}.tmp" "${ASSETS}/${cmd}"
	done
}

[[ -x "${ASSETS}/etcd" ]] || build_etcd
missing=()
for cmd in "${KUBE_CMDS[@]}"; do [[ -x "${ASSETS}/${cmd}" ]] || missing+=("${cmd}"); done
[[ ${#missing[@]} -eq 0 ]] || build_kube

has_all "${ASSETS}" || { log "binaries missing in ${ASSETS}"; exit 1; }
log "ready in ${ASSETS}"
echo "${ASSETS}"
