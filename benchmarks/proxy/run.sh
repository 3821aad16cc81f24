#!/usr/bin/env bash
# The latency a gateway adds in front of the Anthropic Messages API. See README.md beside this file.
#
# Starts the fake Messages API (fakeupstream) on a free loopback port and the gateway in front of
# it, then for each concurrency (1 and 32) measures the same load (loadgen) straight against the
# fake ("direct") and through the gateway, interleaved: direct, gateway, direct, gateway (ROUNDS
# rounds), and prints a markdown table of the median round's p50 and p99 and the difference, and
# the difference of the time outside the upstream (each request's latency less the fake's own time,
# which it reports in the X-Fake-Service-Us header of every answer and a gateway passes on).
#
# The fake waits UPSTREAM_LATENCY +- UPSTREAM_JITTER (default 50ms +- 25ms) before each answer, as a
# model's time to first token: with an upstream that answers at once, concurrency 32 saturates a
# small machine's cores with the three processes (loadgen, gateway, fake) and the figures measure
# that contention, not the gateway, while a real model takes hundreds of milliseconds and leaves
# the cores idle most of the time. UPSTREAM_LATENCY=0 UPSTREAM_JITTER=0 gives that saturation
# measurement instead. The "outside" columns remove the fake's own (jittered) time from each
# request, so that the added latency is not buried in the upstream's spread.
#
# Usage (from anywhere; needs Go, and curl for the readiness check of an HTTP /healthz):
#
#   benchmarks/proxy/run.sh                      # tarsopt serve, built from this checkout
#   GATEWAY_CMD='my-gateway --port {PORT} --upstream {UPSTREAM}' benchmarks/proxy/run.sh
#   UPSTREAM_ADDR=127.0.0.1:9100 GATEWAY_URL=http://127.0.0.1:4000 benchmarks/proxy/run.sh
#
# Environment:
#   GATEWAY_CMD     command that starts the gateway, run with bash -c; {PORT} is replaced by a free
#                   loopback port it must listen on, {UPSTREAM} by the fake's base URL, {CONFIG} by
#                   GATEWAY_CONFIG, {TMP} by this run's temporary folder. Default: tarsopt serve (below).
#   GATEWAY_URL     base URL of a gateway already running (then nothing is started for it; point it
#                   at the fake with UPSTREAM_ADDR)
#   GATEWAY_CONFIG  configuration file for the gateway (default: none)
#   UPSTREAM_ADDR   loopback address of the fake (default 127.0.0.1:0, a free port)
#   UPSTREAM_LATENCY, UPSTREAM_JITTER
#                   the fake's wait before each answer, drawn uniformly per request from
#                   [LATENCY-JITTER, LATENCY+JITTER] (Go durations; default 50ms and 25ms; 0 and 0:
#                   it answers at once, which at c=32 measures a saturated machine)
#   READY_PATH      path polled until the gateway answers (default /healthz; any answer but a
#                   connection failure or a 5xx counts as up when the path does not exist)
#   READY_TIMEOUT   seconds to wait for the gateway (default 60)
#   CONCURRENCIES   default "1 32"
#   N_C1, N_C32     measured requests per round at c=1 (default 200) and c=32 (default 2000); N_C<c>
#                   for another concurrency, else N (default 2000)
#   WARMUP          unmeasured requests before each measured round (default 100)
#   ROUNDS          rounds per target and concurrency (default 2); each metric is the median over
#                   them (with 2, their mean)
#   STREAM          1: streamed requests (default 0)
#   LOADGEN_ARGS    more loadgen flags, e.g. "-key sk-... -H 'Authorization: Bearer sk-1234'"
#   KEEP            1: keep the temporary folder (logs, each round's JSON)
#   PIN             "HARNESS_CPUS:GATEWAY_CPUS", e.g. "0:1": run loadgen and the fake on the first
#                   CPU list and the gateway on the second (taskset), so the gateway has cores of its
#                   own as it would in a deployment, where the client and the API are elsewhere;
#                   without it the three processes share every core (default: not pinned)
set -euo pipefail
set -m # every background process leads its own process group: cleanup reaches its children too

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)

CONCURRENCIES=${CONCURRENCIES:-1 32}
N=${N:-2000}
N_C1=${N_C1:-200}
N_C32=${N_C32:-2000}
WARMUP=${WARMUP:-100}
ROUNDS=${ROUNDS:-2}
STREAM=${STREAM:-0}
READY_PATH=${READY_PATH:-/healthz}
READY_TIMEOUT=${READY_TIMEOUT:-60}
UPSTREAM_ADDR=${UPSTREAM_ADDR:-127.0.0.1:0}
UPSTREAM_LATENCY=${UPSTREAM_LATENCY:-50ms}
UPSTREAM_JITTER=${UPSTREAM_JITTER:-25ms}
GATEWAY_CONFIG=${GATEWAY_CONFIG:-}
LOADGEN_ARGS=${LOADGEN_ARGS:-}

if [[ -n $GATEWAY_CONFIG ]]; then
	[[ -f $GATEWAY_CONFIG ]] || { echo "run.sh: GATEWAY_CONFIG: no file $GATEWAY_CONFIG" >&2; exit 1; }
	GATEWAY_CONFIG=$(cd "$(dirname "$GATEWAY_CONFIG")" && pwd)/$(basename "$GATEWAY_CONFIG")
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/proxybench.XXXXXX")
pids=()      # the fake and the gateway
loadgen_pid= # the loadgen running, if any

cleanup() {
	local pid
	if [[ -n $loadgen_pid ]]; then
		kill -TERM -- "-$loadgen_pid" 2>/dev/null || true
	fi
	for pid in "${pids[@]}"; do
		kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${pids[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	if [[ ${KEEP:-0} == 1 ]]; then
		echo "kept $work" >&2
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

die() {
	echo "run.sh: $*" >&2
	exit 1
}

# free_port prints a loopback TCP port nothing listens on.
free_port() {
	local port i
	for i in $(seq 1 100); do
		port=$((20000 + (RANDOM * 32768 + RANDOM + i) % 40000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			echo "$port"
			return 0
		fi
	done
	die "no free port found"
}

# up says whether the server at $1 answers: 200 on READY_PATH, or any answer but a 5xx (a server
# without that path); without curl, whether its port accepts connections.
up() {
	local url=$1 code hostport
	if command -v curl >/dev/null; then
		code=$(curl -s -o /dev/null -m 2 -w '%{http_code}' "$url$READY_PATH" 2>/dev/null) || true
		[[ $code == 200 ]] || [[ $code =~ ^[1-4][0-9][0-9]$ ]]
		return
	fi
	hostport=${url#*://}
	hostport=${hostport%%/*}
	(exec 3<>"/dev/tcp/${hostport%:*}/${hostport##*:}") 2>/dev/null
}

# wait_up waits until the server at $1 is up; $2, when set, is its process, which must stay alive.
wait_up() {
	local url=$1 pid=${2:-} deadline=$((SECONDS + READY_TIMEOUT))
	until up "$url"; do
		if [[ -n $pid ]] && ! kill -0 "$pid" 2>/dev/null; then
			echo "--- gateway log ($work/gateway.log):" >&2
			tail -n 30 "$work/gateway.log" >&2 || true
			die "the gateway exited before answering at $url"
		fi
		((SECONDS < deadline)) || die "$url did not answer within ${READY_TIMEOUT}s"
		sleep 0.2
	done
}

# requests_for prints the number of measured requests at concurrency $1.
requests_for() {
	local var="N_C$1"
	echo "${!var:-$N}"
}

# field prints the number of key $2 in loadgen's JSON file $1; nothing when the key is absent or
# not a number (null).
field() {
	sed -nE "s/.*\"$2\":(-?[0-9.eE+-]+).*/\1/p" "$1"
}

# median prints the median of the numbers on standard input, or nan when there are none.
median() {
	sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# median_of prints the median over the rounds of key $3 for target $1 at concurrency $2.
median_of() {
	local r
	for r in $(seq 1 "$ROUNDS"); do
		field "$work/c$2-$1-$r.json" "$3"
	done | median
}

# total_of prints the total over the rounds of key $3 for target $1 at concurrency $2.
total_of() {
	local r
	for r in $(seq 1 "$ROUNDS"); do
		field "$work/c$2-$1-$r.json" "$3"
	done | awk '{ s += $1 } END { print s + 0 }'
}

echo "building fakeupstream and loadgen..." >&2
(cd "$root" && go build -o "$work/fakeupstream" ./benchmarks/proxy/fakeupstream && go build -o "$work/loadgen" ./benchmarks/proxy/loadgen)
harness=()
gateway_pin=""
if [[ -n ${PIN:-} ]]; then
	command -v taskset >/dev/null || { echo "run.sh: PIN needs taskset (util-linux)" >&2; exit 1; }
	[[ $PIN == *:* ]] || { echo "run.sh: PIN: want HARNESS_CPUS:GATEWAY_CPUS, such as 0:1" >&2; exit 1; }
	harness=(taskset -c "${PIN%%:*}")
	gateway_pin="taskset -c ${PIN#*:} "
fi

"${harness[@]}" "$work/fakeupstream" -listen "$UPSTREAM_ADDR" -latency "$UPSTREAM_LATENCY" -latency-jitter "$UPSTREAM_JITTER" >"$work/fake.url" 2>"$work/fake.log" &
fake_pid=$!
pids+=("$fake_pid")
for _ in $(seq 1 100); do
	[[ -s $work/fake.url ]] && break
	kill -0 "$fake_pid" 2>/dev/null || die "fakeupstream failed: $(cat "$work/fake.log")"
	sleep 0.1
done
upstream=$(head -n 1 "$work/fake.url")
[[ $upstream == http://* ]] || die "fakeupstream printed no URL"

if [[ -n ${GATEWAY_URL:-} ]]; then
	gateway=${GATEWAY_URL%/}
	label="$gateway (already running)"
	wait_up "$gateway"
else
	port=$(free_port)
	if [[ -n ${GATEWAY_CMD:-} ]]; then
		cmd=$GATEWAY_CMD
	else
		echo "building tarsopt..." >&2
		(cd "$root" && go build -o "$work/tarsopt" ./cmd/tarsopt)
		# Without GATEWAY_CONFIG, tarsopt serve runs tarsopt's default configuration, which is the
		# seed plan with its strategies on: that is the "every strategy on" case.
		cmd="$(printf '%q' "$work/tarsopt") serve --listen 127.0.0.1:{PORT} --upstream {UPSTREAM} --data $(printf '%q' "$work/data")"
		if [[ -n $GATEWAY_CONFIG ]]; then
			cmd+=" --config {CONFIG}"
		fi
	fi
	cmd=${cmd//\{PORT\}/$port}
	cmd=${cmd//\{UPSTREAM\}/$upstream}
	cmd=${cmd//\{CONFIG\}/$(printf '%q' "$GATEWAY_CONFIG")}
	cmd=${cmd//\{TMP\}/$(printf '%q' "$work")}
	echo "starting the gateway: $cmd" >&2
	bash -c "$gateway_pin$cmd" >"$work/gateway.log" 2>&1 &
	gateway_pid=$!
	pids+=("$gateway_pid")
	gateway=http://127.0.0.1:$port
	label=$cmd
	wait_up "$gateway" "$gateway_pid"
fi

stream_flag=()
if [[ $STREAM == 1 ]]; then
	stream_flag=(-stream)
fi
# group_cpu_ticks prints the CPU time (user + system, in clock ticks) used so far by the processes
# of process group $1 (the gateway and anything its command started), from /proc; nothing when
# /proc is not there.
group_cpu_ticks() {
	[[ -r /proc/self/stat ]] || return 0
	local f
	for f in /proc/[0-9]*/stat; do
		cat "$f" 2>/dev/null || true
	done | awk -v g="$1" '{ sub(/^.*\) /, ""); if ($3 == g) t += $12 + $13 } END { print t + 0 }'
}

# LOADGEN_ARGS is split like shell words, quotes included (it is the user's own command line).
extra=()
eval "extra=($LOADGEN_ARGS)"

# measure runs loadgen against $2 (target $1) at concurrency $3, round $4.
measure() {
	local target=$1 url=$2 c=$3 r=$4 out
	out="$work/c$c-$target-$r.json"
	# In the background and waited for, so that a signal reaches the traps at once.
	local t0=
	if [[ $target == gateway && -n ${gateway_pid:-} ]]; then
		t0=$(group_cpu_ticks "$gateway_pid")
	fi
	"${harness[@]}" "$work/loadgen" -url "$url" -c "$c" -n "$(requests_for "$c")" -warmup "$WARMUP" "${stream_flag[@]}" "${extra[@]}" >"$out" 2>"$out.err" &
	loadgen_pid=$!
	wait "$loadgen_pid" || die "loadgen failed against $url: $(cat "$out.err")"
	loadgen_pid=
	if [[ -n $t0 ]]; then
		# The gateway's CPU per request of the round (warmup included), in microseconds, added to
		# loadgen's JSON line so that median_of reads it like the other figures.
		local t1 per
		t1=$(group_cpu_ticks "$gateway_pid")
		per=$(awk -v d="$((t1 - t0))" -v hz="$(getconf CLK_TCK)" -v n="$(($(requests_for "$c") + WARMUP))" 'BEGIN { printf "%.1f", d / hz * 1e6 / n }')
		sed -i "s/}\$/,\"gateway_cpu_us\":$per}/" "$out"
	fi
	if [[ -s $out.err ]]; then
		sed "s/^/  [$target c=$c round $r] /" "$out.err" >&2
	fi
	echo "  $target c=$c round $r: $(cat "$out")" >&2
	kill -0 "$fake_pid" 2>/dev/null || die "fakeupstream exited: $(cat "$work/fake.log")"
}

for c in $CONCURRENCIES; do
	for r in $(seq 1 "$ROUNDS"); do
		measure direct "$upstream" "$c" "$r"
		measure gateway "$gateway" "$c" "$r"
	done
done

echo
echo "Gateway: $label"
echo "Upstream: fakeupstream at $upstream, latency $UPSTREAM_LATENCY +- $UPSTREAM_JITTER; stream: $([[ $STREAM == 1 ]] && echo yes || echo no); rounds: $ROUNDS (median); warmup: $WARMUP; pinned: ${PIN:-no}; $(nproc 2>/dev/null || echo '?') CPUs; $(go version | cut -d' ' -f3)"
echo
echo "| concurrency | requests | direct p50 ms | direct p99 ms | gateway p50 ms | gateway p99 ms | added p50 ms | added p99 ms | added outside p50 ms | added outside p99 ms | gateway CPU µs/request | errors direct/gateway |"
echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
no_outside=()
for c in $CONCURRENCIES; do
	d50=$(median_of direct "$c" p50_ms)
	d99=$(median_of direct "$c" p99_ms)
	g50=$(median_of gateway "$c" p50_ms)
	g99=$(median_of gateway "$c" p99_ms)
	# Medians over the rounds whose answers carried X-Fake-Service-Us; nan when none did.
	do50=$(median_of direct "$c" outside_p50_ms)
	do99=$(median_of direct "$c" outside_p99_ms)
	go50=$(median_of gateway "$c" outside_p50_ms)
	go99=$(median_of gateway "$c" outside_p99_ms)
	if [[ $do50 == nan ]]; then
		no_outside+=("direct at c=$c")
	fi
	if [[ $go50 == nan ]]; then
		no_outside+=("gateway at c=$c")
	fi
	gcpu=$(median_of gateway "$c" gateway_cpu_us)
	de=$(total_of direct "$c" errors)
	ge=$(total_of gateway "$c" errors)
	awk -v c="$c" -v n="$(requests_for "$c")" -v d50="$d50" -v d99="$d99" -v g50="$g50" -v g99="$g99" \
		-v do50="$do50" -v do99="$do99" -v go50="$go50" -v go99="$go99" -v gcpu="$gcpu" -v de="$de" -v ge="$ge" '
		function diff(g, d) { return (g == "nan" || d == "nan") ? "n/a" : sprintf("%+.3f", g - d) }
		BEGIN { printf "| %s | %s | %.3f | %.3f | %.3f | %.3f | %+.3f | %+.3f | %s | %s | %s | %s/%s |\n", c, n, d50, d99, g50, g99, g50 - d50, g99 - d99, diff(go50, do50), diff(go99, do99), (gcpu == "nan" ? "n/a" : gcpu), de, ge }'
done
if ((${#no_outside[@]} > 0)); then
	echo
	echo "NOTE: no answer carried X-Fake-Service-Us: $(printf '%s, ' "${no_outside[@]}" | sed 's/, $//')."
	echo "The added outside figures need it on both sides, so they are n/a there (a gateway that drops the"
	echo "upstream's response headers, or an upstream other than fakeupstream)."
fi
for c in $CONCURRENCIES; do
	de=$(total_of direct "$c" errors)
	ge=$(total_of gateway "$c" errors)
	if ((de + ge > 0)); then
		echo
		echo "WARNING: at c=$c, $de direct and $ge gateway requests failed (over all rounds; see the lines above the table):"
		echo "the percentiles are over the requests that succeeded, so the figures of that row are not comparable."
	fi
done
