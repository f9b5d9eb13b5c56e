#!/usr/bin/env bash
# What `make run` runs: nats-server with JetStream and `herald all` on this
# machine, a banner with the API address, dev key and a portal link once
# Herald's /readyz answers 200, and on Ctrl-C (or SIGTERM) Herald drained and stopped, then
# nats-server. Exits with Herald's status.
#
# The Makefile passes (tests pass their own):
#   NATS_SERVER    the nats-server binary
#   HERALD_BIN     the herald binary cargo built (wherever CARGO_TARGET_DIR points)
#   RUN_NATS_PORT  NATS port on 127.0.0.1
#   RUN_HTTP_ADDR  Herald's API address, host:port
#   RUN_API_KEY    the dev API key, for tenant `dev`
#   RUN_SECRET_KEY the key webhook secrets and header values are sealed with (local use only)
#   RUN_DATA_DIR   NATS store, its log and the SQLite file (default: data)

set -uo pipefail

: "${NATS_SERVER:?}" "${HERALD_BIN:?}" "${RUN_NATS_PORT:?}" "${RUN_HTTP_ADDR:?}"
: "${RUN_API_KEY:?}" "${RUN_SECRET_KEY:?}"
data=${RUN_DATA_DIR:-data}
http_host=${RUN_HTTP_ADDR%:*}
http_host=${http_host#[}
http_host=${http_host%]}
http_port=${RUN_HTTP_ADDR##*:}

mkdir -p "$data/nats"
printf 'max_payload: 8MB\n' >"$data/nats.conf"
"$NATS_SERVER" -c "$data/nats.conf" -a 127.0.0.1 -p "$RUN_NATS_PORT" -js -sd "$data/nats" \
	-l "$data/nats-server.log" &
nats_pid=$!
herald_pid=

stop_nats() {
	kill "$nats_pid" 2>/dev/null
	wait "$nats_pid" 2>/dev/null
}

stop() {
	trap - INT TERM EXIT
	if [ -n "$herald_pid" ]; then
		kill -TERM "$herald_pid" 2>/dev/null
		wait "$herald_pid"
	fi
	stop_nats
	echo "Herald stopped."
	exit 0
}
trap stop INT TERM EXIT

# Whether something accepts connections on $1:$2.
listening() {
	(exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

# Whether Herald's /readyz answers 200.
ready() {
	(
		exec 3<>"/dev/tcp/$http_host/$http_port" || exit 1
		printf 'GET /readyz HTTP/1.0\r\nHost: %s\r\n\r\n' "$RUN_HTTP_ADDR" >&3
		IFS= read -r -t 5 status <&3 || exit 1
		[[ $status == HTTP/1.?\ 200* ]]
	) 2>/dev/null
}

for _ in $(seq 100); do
	listening 127.0.0.1 "$RUN_NATS_PORT" && break
	kill -0 "$nats_pid" 2>/dev/null || break
	sleep 0.1
done
if ! listening 127.0.0.1 "$RUN_NATS_PORT"; then
	echo "nats-server did not start on port $RUN_NATS_PORT; see $data/nats-server.log" >&2
	trap - INT TERM EXIT
	stop_nats
	exit 1
fi

HERALD_NATS_URL="nats://127.0.0.1:$RUN_NATS_PORT" \
HERALD_HTTP_ADDR="$RUN_HTTP_ADDR" \
HERALD_API_KEYS="dev:$RUN_API_KEY" \
HERALD_SECRET_KEY="$RUN_SECRET_KEY" \
HERALD_ALLOWED_TARGETS=127.0.0.0/8,::1/128 \
DATABASE_URL="sqlite://$data/herald.db?mode=rwc" \
RUST_LOG="${RUST_LOG:-info}" \
	"$HERALD_BIN" all &
herald_pid=$!

# The banner comes once Herald is ready, or not at all if it stops first (its
# log says why).
until ready; do
	kill -0 "$herald_pid" 2>/dev/null || break
	sleep 0.2
done
if kill -0 "$herald_pid" 2>/dev/null; then
	# A day's sign-in link to the dev tenant's customer portal.
	portal=$("$HERALD_BIN" portal --url "http://$RUN_HTTP_ADDR" --api-key "$RUN_API_KEY" \
		--ttl 24h --json 2>/dev/null | sed -n 's/.*"url":"\([^"]*\)".*/\1/p')
	echo ""
	echo "Herald API: http://$RUN_HTTP_ADDR"
	echo "API key:    $RUN_API_KEY   (tenant: dev)"
	echo "Portal:     ${portal:-(no link: see \`herald portal --help\`)}"
	echo "            (the dev tenant's customer portal: the link signs in within 10 minutes, for 24 h;"
	echo "             a new one: $HERALD_BIN portal --url http://$RUN_HTTP_ADDR --api-key $RUN_API_KEY)"
	echo "NATS:       nats://127.0.0.1:$RUN_NATS_PORT   (publish events to ingest.dev.<event_type>)"
	echo "Ctrl-C stops everything."
	echo ""
fi

wait "$herald_pid"
status=$?
trap - INT TERM EXIT
stop_nats
if [ "$status" -ne 0 ]; then
	echo "Herald exited with status $status (see README, Operations, for what it means)." >&2
fi
exit "$status"
