#!/bin/sh
# Replays a 10-million-call Parquet trace (tars-baseline scaled to 100,000 calls a day, 100 days)
# with every strategy on, and prints the peak resident memory of the replay: a replay streams the
# trace, so its memory follows the calls in flight and the strategies' bounded state, not the
# trace's length. Needs about 1.5 GB of disk in $TMPDIR and several minutes.
set -eu
cd "$(dirname "$0")/.."
dir=${TMPDIR:-/tmp}/tarsopt-10m
mkdir -p "$dir"
go build -o "$dir/tarsopt" ./cmd/tarsopt
if [ ! -s "$dir/dense.parquet" ]; then
	"$dir/tarsopt" gen -q --profile benchmarks/testdata/tars-dense.json --days 100 --seed 1 -o "$dir/dense.parquet"
fi
"$dir/tarsopt" inspect "$dir/dense.parquet" | head -3
/usr/bin/time -f 'replay of 10M calls, every strategy on: %e s elapsed, peak RSS %M KiB' \
	"$dir/tarsopt" replay --trace "$dir/dense.parquet" --set strategies.promptcache.enabled=true --json > "$dir/replay.json"
python3 -c "import json; d=json.load(open('$dir/replay.json')); print('calls', d['calls'], 'reduction', round(d['reduction'], 4))" 2>/dev/null || true
