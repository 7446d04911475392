#!/usr/bin/env bash
# A private SMTP server on loopback for the privacy center's tests and demo:
# mailpit, which keeps every message it receives and serves them over an
# HTTP API. `build` builds mailpit from the Go module proxy into the cache
# beside the envtest binaries when it is missing (about two minutes, once)
# and prints the binary's path on stdout. `start` builds it, starts it if
# it is not already running and prints, on stdout, lines to eval:
#
#   MAILPIT_SMTP=127.0.0.1:57025
#   MAILPIT_HTTP=http://127.0.0.1:57026
#
# (everything else goes to stderr). `stop` stops it. Messages live in a
# temporary database: a restart starts with an empty mailbox.
#
#   MAILPIT_TEST_SMTP_PORT  SMTP port (default 57025)
#   MAILPIT_TEST_HTTP_PORT  HTTP API and web port (default 57026)
#   MAILPIT_TEST_HOST       address to listen on (default 127.0.0.1)
#   MAILPIT_TEST_DIR        pid, lock and log files (default under /var/tmp)
#
# The module on the proxy builds without mailpit's web interface bundle
# (server/ui/dist is made by npm at release time and is not in the module),
# so the browser pages at / are empty; the SMTP server and the HTTP API
# (/api/v1/...), which the tests use, are whole.
set -euo pipefail

VERSION="v1.33.1"
GO="${GO:-go}"
smtp_port="${MAILPIT_TEST_SMTP_PORT:-57025}"
http_port="${MAILPIT_TEST_HTTP_PORT:-57026}"
host="${MAILPIT_TEST_HOST:-127.0.0.1}"
dir="${MAILPIT_TEST_DIR:-/var/tmp/privacy-operator-mailpit-$(id -u)}"
cache="${XDG_DATA_HOME:-${HOME}/.local/share}/kubebuilder-envtest"
bindir="${cache}/mailpit-${VERSION}"
bin="${bindir}/mailpit"
api="http://${host}:${http_port}"

log() { echo "hack/mailpit.sh: $*" >&2; }

build() {
	[[ -x "${bin}" ]] && return 0
	mkdir -p "${cache}"
	# Test packages run in parallel and may all ask at once: one builds.
	exec 8>"${cache}/mailpit-${VERSION}.lock"
	flock 8
	if [[ ! -x "${bin}" ]]; then
		log "building mailpit ${VERSION} into ${bindir} (about two minutes, once)"
		local tmp
		tmp="$(mktemp -d "${cache}/mailpit-build.XXXXXX")"
		# Outside the repository, so that its go.mod plays no part; into a
		# temporary directory, so that a killed build leaves no binary.
		if ! (cd / && GOFLAGS=-buildvcs=false GOBIN="${tmp}" "${GO}" install "github.com/axllent/mailpit@${VERSION}") >&2; then
			rm -rf "${tmp}"
			return 1
		fi
		mkdir -p "${bindir}"
		mv "${tmp}/mailpit" "${bin}"
		rm -rf "${tmp}"
	fi
	exec 8>&-
}

# running: our mailpit is alive, its API answers and its SMTP port greets
# (the API can answer before the SMTP port has failed to bind).
running() {
	[[ -f "${dir}/pid" ]] && kill -0 "$(cat "${dir}/pid")" 2>/dev/null &&
		curl -fs -o /dev/null --max-time 2 "${api}/readyz" &&
		[[ "$(timeout 2 bash -c 'exec 3<>"/dev/tcp/$0/$1" && head -c 3 <&3' "${host}" "${smtp_port}" 2>/dev/null)" == 220 ]]
}

# await waits up to ten seconds for the mailpit of pid to answer.
await() {
	local deadline=$((SECONDS + 10))
	until running; do
		if ! kill -0 "$1" 2>/dev/null || ((SECONDS >= deadline)); then
			log "mailpit did not start on ${api}:"
			tail -n 20 "${dir}/server.log" >&2
			return 1
		fi
		sleep 0.1
	done
}

start() {
	command -v curl >/dev/null || { log "needs curl"; return 1; }
	build
	mkdir -p "${dir}"
	exec 9>"${dir}/lock"
	flock 9
	if ! running; then
		log "starting mailpit: SMTP on ${host}:${smtp_port}, HTTP on ${api}"
		# setsid: the server outlives the process that started it, as
		# hack/versitygw.sh's does. No version check: it would call out.
		setsid "${bin}" --smtp "${host}:${smtp_port}" --listen "${host}:${http_port}" \
			--disable-version-check --smtp-disable-rdns --max 5000 \
			>"${dir}/server.log" 2>&1 9>&- &
		echo $! >"${dir}/pid"
		await $!
	fi
	echo "MAILPIT_SMTP=${host}:${smtp_port}"
	echo "MAILPIT_HTTP=${api}"
}

stop() {
	[[ -f "${dir}/pid" ]] || return 0
	local pid
	pid="$(cat "${dir}/pid")"
	rm -f "${dir}/pid"
	kill "${pid}" 2>/dev/null || return 0
	# Wait until it is gone, so that a start right after finds its ports
	# free; after five seconds, kill it.
	timeout 5 tail --pid="${pid}" -s 0.1 -f /dev/null || kill -9 "${pid}" 2>/dev/null || true
}

case "${1:-start}" in
build) build && echo "${bin}" ;;
start) start ;;
stop) stop ;;
*) log "usage: $0 build|start|stop"; exit 2 ;;
esac
