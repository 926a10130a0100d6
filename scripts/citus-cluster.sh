#!/bin/sh
# citus-cluster.sh start|stop|status [DIR]
#
# A Citus cluster on this machine for make test-citus and the Citus
# benchmarks: a coordinator on port 9700 and two workers on 9701 and 9702,
# each a PostgreSQL 15 data directory under DIR (default /tmp/citus),
# trusting loopback connections, run as the postgres user. Citus must be
# installed into PostgreSQL 15 (docs/scaling.md says how to build it).
#
# start creates the data directories on first use (initdb, citus preloaded,
# CREATE EXTENSION citus, workers added to the coordinator) and prints the
# CITUS_URL to export. Settings that matter for thermowatt's load are set
# here (see docs/scaling.md, "Citus settings"):
#   citus.max_cached_conns_per_worker = 8: the coordinator keeps up to 8
#     idle connections per worker per backend instead of 1, so a burst of
#     concurrent router writes reuses them instead of opening new ones.
# Environment: CITUS_PORT (9700; the workers take the next two),
# PGBIN (/usr/lib/postgresql/15/bin).
set -eu

cmd=${1:-status}
dir=${2:-/tmp/citus}
port=${CITUS_PORT:-9700}
pgbin=${PGBIN:-/usr/lib/postgresql/15/bin}
nodes="coord:$port w1:$((port + 1)) w2:$((port + 2))"

as_postgres() {
	if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

psql_at() { # port, then psql arguments
	p=$1
	shift
	psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$p" -U postgres -d postgres "$@"
}

start() {
	mkdir -p "$dir"
	[ "$(id -u)" = 0 ] && chown postgres "$dir"
	fresh=""
	for n in $nodes; do
		name=${n%%:*} p=${n##*:} data=$dir/${n%%:*}
		if [ ! -f "$data/PG_VERSION" ]; then
			as_postgres "$pgbin/initdb" -D "$data" -U postgres --auth=trust -E UTF8 >"$dir/$name.initdb.log"
			cat >>"$data/postgresql.conf" <<EOF
shared_preload_libraries = 'citus'
listen_addresses = '127.0.0.1'
port = $p
unix_socket_directories = '$dir'
max_connections = 300
citus.max_cached_conns_per_worker = 8
EOF
			printf 'local all all trust\nhost all all 127.0.0.1/32 trust\n' >"$data/pg_hba.conf"
			fresh="$fresh $name"
		fi
		if ! as_postgres "$pgbin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
			as_postgres "$pgbin/pg_ctl" -D "$data" -l "$dir/$name.log" -w start >/dev/null
		fi
		psql_at "$p" -c 'CREATE EXTENSION IF NOT EXISTS citus' >/dev/null
	done
	if [ -n "$fresh" ]; then
		psql_at "$port" -c "SELECT citus_set_coordinator_host('127.0.0.1', $port)" >/dev/null
	fi
	for p in $((port + 1)) $((port + 2)); do
		known=$(psql_at "$port" -Atc "SELECT count(*) FROM pg_dist_node WHERE nodeport = $p")
		[ "$known" = 0 ] && psql_at "$port" -c "SELECT citus_add_node('127.0.0.1', $p)" >/dev/null
	done
	status
	echo "export CITUS_URL='postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable'"
}

stop() {
	for n in $nodes; do
		data=$dir/${n%%:*}
		if [ -f "$data/PG_VERSION" ] && as_postgres "$pgbin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
			as_postgres "$pgbin/pg_ctl" -D "$data" -m fast -w stop >/dev/null
		fi
	done
	echo "stopped (data kept in $dir; remove it for a fresh cluster)"
}

status() {
	for n in $nodes; do
		name=${n%%:*} data=$dir/${n%%:*}
		if [ -f "$data/PG_VERSION" ] && as_postgres "$pgbin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
			echo "$name: running on port ${n##*:} ($data)"
		else
			echo "$name: not running ($data)"
		fi
	done
	if psql_at "$port" -Atc 'SELECT 1' >/dev/null 2>&1; then
		echo "workers: $(psql_at "$port" -Atc "SELECT string_agg(nodename || ':' || nodeport, ' ') FROM pg_dist_node WHERE noderole = 'primary' AND groupid <> 0")"
	fi
}

case $cmd in
start) start ;;
stop) stop ;;
status) status ;;
*)
	echo "usage: $0 start|stop|status [DIR]" >&2
	exit 2
	;;
esac
