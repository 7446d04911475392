#!/usr/bin/env bash
# A private PostgreSQL server on loopback for the SQL data source's tests and
# benchmarks. `start` installs PostgreSQL from Debian's packages when it is
# missing (as root), starts the server if it is not already running, and
# prints its DSN on stdout (everything else goes to stderr). `stop` stops it.
#
#   PG_TEST_PORT   port (default 55432)
#   PG_TEST_DIR    data and socket directory (default under /var/tmp)
#   PG_TEST_HOST   address to listen on (default 127.0.0.1)
#   PG_TEST_ALLOW  CIDRs (space-separated) whose clients are trusted besides
#                  loopback, e.g. the pods of hack/cluster (default none)
set -euo pipefail

port="${PG_TEST_PORT:-55432}"
dir="${PG_TEST_DIR:-/var/tmp/privacy-operator-postgres-$(id -u)}"
host="${PG_TEST_HOST:-127.0.0.1}"
allow="${PG_TEST_ALLOW:-}"
dsn="postgres://postgres@${host}:${port}/postgres?sslmode=disable"

log() { echo "hack/postgres.sh: $*" >&2; }

find_bindir() {
	local d
	for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
		[[ -x "${d}/initdb" && -x "${d}/pg_ctl" ]] && { echo "${d}"; return 0; }
	done
	if command -v initdb >/dev/null && command -v pg_ctl >/dev/null; then
		dirname "$(command -v initdb)"
		return 0
	fi
	return 1
}

install_postgres() {
	if [[ "$(id -u)" != 0 ]] || ! command -v apt-get >/dev/null; then
		log "PostgreSQL is not installed and cannot be installed here (needs root and apt-get)"
		return 1
	fi
	log "installing PostgreSQL from Debian's packages"
	# The package would start a cluster of its own on 5432; nothing here
	# needs it, and a container may have no init system to start it anyway.
	DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
}

# as_owner runs a command as the user that owns the data directory: postgres
# refuses to run as root.
as_owner() {
	if [[ "$(id -u)" == 0 ]]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

start() {
	local bindir
	if ! bindir="$(find_bindir)"; then
		install_postgres || return 1
		bindir="$(find_bindir)" || { log "PostgreSQL binaries not found after install"; return 1; }
	fi
	if "${bindir}/pg_isready" -q -h "${host}" -p "${port}" 2>/dev/null; then
		echo "${dsn}"
		return 0
	fi
	mkdir -p "${dir}"
	[[ "$(id -u)" == 0 ]] && chown postgres: "${dir}"
	if [[ ! -f "${dir}/data/PG_VERSION" ]]; then
		log "creating a cluster in ${dir}/data"
		rm -rf "${dir}/data"
		as_owner "${bindir}/initdb" -D "${dir}/data" -U postgres -A trust --no-sync >"${dir}/initdb.log" 2>&1 ||
			{ cat "${dir}/initdb.log" >&2; return 1; }
	fi
	local cidr
	for cidr in ${allow}; do
		grep -qxF "host all all ${cidr} trust" "${dir}/data/pg_hba.conf" ||
			echo "host all all ${cidr} trust" >>"${dir}/data/pg_hba.conf"
	done
	# A test server: durability is not wanted, speed is.
	as_owner "${bindir}/pg_ctl" -D "${dir}/data" -l "${dir}/server.log" -w -t 60 start \
		-o "-p ${port} -k ${dir} -c listen_addresses=${host} -c fsync=off -c synchronous_commit=off -c full_page_writes=off" >&2 ||
		{ tail -n 20 "${dir}/server.log" >&2; return 1; }
	echo "${dsn}"
}

stop() {
	local bindir
	bindir="$(find_bindir)" || return 0
	[[ -f "${dir}/data/postmaster.pid" ]] || return 0
	as_owner "${bindir}/pg_ctl" -D "${dir}/data" -m fast -w stop >&2
}

case "${1:-start}" in
start) start ;;
stop) stop ;;
*) log "usage: $0 start|stop"; exit 2 ;;
esac
