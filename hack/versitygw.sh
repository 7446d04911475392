#!/usr/bin/env bash
# A private S3 server on loopback for the export store's tests and
# benchmarks: versitygw serving S3 over a local directory. `start` builds
# versitygw from the Go module proxy into the cache beside the envtest
# binaries when it is missing (about two minutes, once), starts it if it is
# not already running, creates the test bucket and prints the endpoint on
# stdout (everything else goes to stderr). `stop` stops it.
#
#   VGW_TEST_PORT    port (default 57070)
#   VGW_TEST_DIR     data directory (default under /var/tmp)
#   VGW_TEST_HOST    address to listen on (default 127.0.0.1)
#   VGW_TEST_BUCKET  the bucket to create (default privacy-exports-test)
#
# The server takes the fixed test credentials below and holds the bucket
# privacy-exports-test; internal/operator/export/exporttest knows both.
set -euo pipefail

VERSION="v1.8.0"
GO="${GO:-go}"
port="${VGW_TEST_PORT:-57070}"
dir="${VGW_TEST_DIR:-/var/tmp/privacy-operator-versitygw-$(id -u)}"
bindir="${XDG_DATA_HOME:-${HOME}/.local/share}/kubebuilder-envtest/versitygw-${VERSION}"
bin="${bindir}/versitygw"
host="${VGW_TEST_HOST:-127.0.0.1}"
endpoint="http://${host}:${port}"
access="privacy-operator-test"
secret="privacy-operator-test-secret"
bucket="${VGW_TEST_BUCKET:-privacy-exports-test}"
empty_sha256="e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

log() { echo "hack/versitygw.sh: $*" >&2; }

build() {
	[[ -x "${bin}" ]] && return 0
	log "building versitygw ${VERSION} into ${bindir} (about two minutes, once)"
	mkdir -p "${bindir}"
	# Outside the repository, so that its go.mod plays no part.
	(cd / && GOFLAGS=-buildvcs=false GOBIN="${bindir}" "${GO}" install "github.com/versity/versitygw/cmd/versitygw@${VERSION}") >&2
}

# s3 sends one request without a body, signed with the test credentials;
# it prints the HTTP status.
s3() {
	curl -s -o /dev/null -w '%{http_code}' --max-time 5 --aws-sigv4 "aws:amz:us-east-1:s3" \
		--user "${access}:${secret}" -H "x-amz-content-sha256: ${empty_sha256}" "$@"
}

running() {
	[[ -f "${dir}/pid" ]] && kill -0 "$(cat "${dir}/pid")" 2>/dev/null &&
		[[ "$(s3 "${endpoint}/" || true)" == 200 ]]
}

start() {
	command -v curl >/dev/null || { log "needs curl (7.75 or later: --aws-sigv4)"; return 1; }
	build
	mkdir -p "${dir}"
	# Test packages run in parallel and may all ask at once.
	exec 9>"${dir}/lock"
	flock 9
	if ! running; then
		mkdir -p "${dir}/data" "${dir}/meta"
		log "starting versitygw on ${endpoint} over ${dir}/data"
		# setsid: the server outlives the test process that started it, as
		# the PostgreSQL of hack/postgres.sh does.
		setsid "${bin}" --access "${access}" --secret "${secret}" --port "${host}:${port}" --quiet \
			posix --sidecar "${dir}/meta" "${dir}/data" >"${dir}/server.log" 2>&1 9>&- &
		echo $! >"${dir}/pid"
		for _ in $(seq 1 100); do
			running && break
			if ! kill -0 "$(cat "${dir}/pid")" 2>/dev/null; then
				log "versitygw exited:"
				tail -n 20 "${dir}/server.log" >&2
				return 1
			fi
			sleep 0.1
		done
		running || { log "versitygw did not answer on ${endpoint}"; tail -n 20 "${dir}/server.log" >&2; return 1; }
	fi
	local code
	code="$(s3 -X PUT "${endpoint}/${bucket}" || true)"
	# 200: created; 409: it was there already.
	if [[ "${code}" != 200 && "${code}" != 409 ]]; then
		log "creating bucket ${bucket} failed (HTTP ${code})"
		return 1
	fi
	echo "${endpoint}"
}

stop() {
	[[ -f "${dir}/pid" ]] || return 0
	local pid
	pid="$(cat "${dir}/pid")"
	kill "${pid}" 2>/dev/null || true
	# Wait for the port to be free: a start right after must not find it taken.
	for _ in $(seq 1 50); do kill -0 "${pid}" 2>/dev/null || break; sleep 0.1; done
	kill -9 "${pid}" 2>/dev/null || true
	rm -f "${dir}/pid"
}

case "${1:-start}" in
start) start ;;
stop) stop ;;
*) log "usage: $0 start|stop"; exit 2 ;;
esac
