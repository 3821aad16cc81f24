#!/usr/bin/env bash
# Parity check of `tarsopt cost --from claude-code` against ccusage, the analyzer Claude Code users
# run, and a paired timing of the two. See docs/ccusage-parity.md for the rules compared and the
# known differences.
#
# Usage (from anywhere in the repo; needs Go, npm and access to the npm registry):
#
#   benchmarks/ccusage/compare.sh [REAL_TRANSCRIPTS_DIR]
#
# Steps:
#   1. installs ccusage@$CCUSAGE_VERSION (default 20.0.24) with npm into a temporary folder, and
#      runs its native binary from there, offline (--offline: bundled price table, no network);
#   2. builds tarsopt (go build ./cmd/tarsopt), the comparison program (cmpjson) and the corpus
#      generator (gencorpus);
#   3. for each input, runs
#        ccusage claude daily --offline --json -z UTC -b -m calculate   (CLAUDE_CONFIG_DIR=DIR)
#        tarsopt cost --from claude-code DIR --json --tz UTC
#      and compares per day, per day and model, and in total, to half a cent:
#        real    the three real transcripts as a projects tree: ccusage = tarsopt;
#        corpus  gencorpus -seed $SEED -lines $LINES -sessions $SESSIONS: ccusage = the generator's
#                exact expected totals (proves the corpus triggers no known difference),
#                tarsopt = expected, ccusage = tarsopt;
#        diffs   benchmarks/ccusage/testdata/differences, one known difference per day: ccusage =
#                its documented amounts, tarsopt = Anthropic's amounts; ccusage vs tarsopt is shown
#                for information only;
#   4. times both on the corpus, $RUNS runs each, alternating, with GNU time (/usr/bin/time -v;
#      installed with apt-get when missing and possible): median wall time, peak RSS, ratios.
#
# The real transcripts: traces/importers/testdata/claude-code/ when it exists (its projects/ tree
# is used; a projects folder itself, or loose .jsonl files, work too); else REAL_TRANSCRIPTS_DIR,
# or $CLAUDE_CODE_FIXTURES, or ../shared/data/claude-code beside the repo: a folder of .jsonl
# transcripts (short.jsonl, tool_heavy.jsonl, subagent.jsonl), laid out here as
# projects/-home-user-fixtures/<sessionId>.jsonl. Either way they are copied to a temporary
# projects tree that both tools read.
#
# Environment: CCUSAGE_VERSION (20.0.24), CCUSAGE_PREFIX (reuse an npm --prefix that already holds
# it), SEED (1), LINES (200000), SESSIONS (50), RUNS (3), WORK (temporary folder; kept if given or
# KEEP=1), TARSOPT_INPUT (parent: pass DIR, the folder holding projects/ — the default; projects:
# pass DIR/projects), TARSOPT_BIN (use this tarsopt binary instead of building ./cmd/tarsopt).
#
# Exit status: 0 all comparisons agree; 1 a comparison failed; 3 tarsopt has no `cost` command yet
# (or does not build): everything else was run, tarsopt's part was skipped; 2 setup failure.
set -euo pipefail

CCUSAGE_VERSION=${CCUSAGE_VERSION:-20.0.24}
SEED=${SEED:-1}
LINES=${LINES:-200000}
SESSIONS=${SESSIONS:-50}
RUNS=${RUNS:-3}
TARSOPT_INPUT=${TARSOPT_INPUT:-parent}
REAL_ARG=${1:-}

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE=$REPO/benchmarks/ccusage

say() { printf '\n== %s\n' "$*" >&2; }
die() {
	printf 'compare.sh: %s\n' "$*" >&2
	exit 2
}

for tool in go npm; do
	command -v "$tool" >/dev/null || die "$tool is not installed"
done

if [[ -n ${WORK:-} ]]; then
	mkdir -p "$WORK"
	KEEP=1
else
	WORK=$(mktemp -d "${TMPDIR:-/tmp}/ccusage-parity.XXXXXX")
fi
WORK=$(cd "$WORK" && pwd)
cleanup() {
	if [[ ${KEEP:-0} == 1 ]]; then
		echo "compare.sh: outputs kept in $WORK" >&2
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT
OUT=$WORK/out
mkdir -p "$OUT" "$WORK/home/.config"

# ---- 1. ccusage ----
say "installing ccusage@$CCUSAGE_VERSION"
PREFIX=${CCUSAGE_PREFIX:-$WORK/ccusage}
if [[ ! -f $PREFIX/node_modules/ccusage/package.json ]] ||
	! grep -q "\"version\": \"$CCUSAGE_VERSION\"" "$PREFIX/node_modules/ccusage/package.json"; then
	npm install --prefix "$PREFIX" --no-audit --no-fund --loglevel=error "ccusage@$CCUSAGE_VERSION" >&2 ||
		die "npm install ccusage@$CCUSAGE_VERSION failed"
fi
# The package is a small node launcher (src/cli.js) that runs a native binary shipped in an
# optional dependency, @ccusage/ccusage-<platform>-<arch>. Run the binary directly: no node in the
# timings, and one process for /usr/bin/time to measure.
case "$(uname -s)-$(uname -m)" in
Linux-x86_64) NATIVE=@ccusage/ccusage-linux-x64 ;;
Linux-aarch64 | Linux-arm64) NATIVE=@ccusage/ccusage-linux-arm64 ;;
Darwin-arm64) NATIVE=@ccusage/ccusage-darwin-arm64 ;;
Darwin-x86_64) NATIVE=@ccusage/ccusage-darwin-x64 ;;
*) NATIVE= ;;
esac
CCUSAGE=()
if [[ -n $NATIVE && -f $PREFIX/node_modules/$NATIVE/bin/ccusage ]]; then
	chmod +x "$PREFIX/node_modules/$NATIVE/bin/ccusage" # npm leaves it 0644; cli.js chmods it too
	CCUSAGE=("$PREFIX/node_modules/$NATIVE/bin/ccusage")
else
	command -v node >/dev/null || die "no native ccusage binary for $(uname -sm) and no node"
	CCUSAGE=(node "$PREFIX/node_modules/ccusage/src/cli.js")
fi
got=$("${CCUSAGE[@]}" --version 2>&1 || true)
[[ $got == *"$CCUSAGE_VERSION"* ]] || die "ccusage --version says '$got', wanted $CCUSAGE_VERSION"
echo "ccusage: ${CCUSAGE[*]} ($got)" >&2

# ccusage reads CLAUDE_CONFIG_DIR (a folder holding projects/, or the projects/ folder itself);
# HOME, XDG_CONFIG_HOME and the working directory point at an empty folder so that no user config
# (ccusage.json) or other agents' logs are picked up.
CCUSAGE_ENV=(env -i PATH="$PATH" HOME="$WORK/home" XDG_CONFIG_HOME="$WORK/home/.config" TZ=UTC)
CCUSAGE_ARGS=(claude daily --offline --json -z UTC -b -m calculate)
ccusage_cmd() { # DIR: the command line, in CMD
	CMD=("${CCUSAGE_ENV[@]}" CLAUDE_CONFIG_DIR="$1" "${CCUSAGE[@]}" "${CCUSAGE_ARGS[@]}")
}
run_ccusage() { # DIR OUTFILE
	ccusage_cmd "$1"
	(cd "$WORK/home" && "${CMD[@]}") >"$2"
}

# ---- 2. builds ----
say "building cmpjson, gencorpus and tarsopt"
cd "$REPO"
go build -o "$WORK/cmpjson" ./benchmarks/ccusage/cmpjson
go build -o "$WORK/gencorpus" ./benchmarks/ccusage/gencorpus
TARSOPT=${TARSOPT_BIN:-$WORK/tarsopt}
TARSOPT_OK=1
TARSOPT_WHY=
if [[ -n ${TARSOPT_BIN:-} ]]; then
	echo "tarsopt: using TARSOPT_BIN=$TARSOPT_BIN (not built)" >&2
	"$TARSOPT" help cost >/dev/null 2>&1 || { TARSOPT_OK=0; TARSOPT_WHY="$TARSOPT_BIN has no 'cost' command"; }
elif ! go build -o "$TARSOPT" ./cmd/tarsopt 2>"$WORK/tarsopt-build.log"; then
	TARSOPT_OK=0
	TARSOPT_WHY="tarsopt does not build (see below)"
	cat "$WORK/tarsopt-build.log" >&2
elif ! "$TARSOPT" help cost >/dev/null 2>&1; then
	TARSOPT_OK=0
	TARSOPT_WHY="tarsopt has no 'cost' command yet"
fi
if [[ $TARSOPT_OK == 0 ]]; then
	cat >&2 <<EOF

  *** $TARSOPT_WHY: skipping every tarsopt run and comparison. ***
  *** ccusage's runs, the corpus checks and ccusage's timing still run; exit status 3.  ***
EOF
fi
run_tarsopt() { # DIR OUTFILE
	local dir=$1
	[[ $TARSOPT_INPUT == projects ]] && dir=$1/projects
	"$TARSOPT" cost --from claude-code "$dir" --json --tz UTC >"$2"
}

# ---- 3. inputs and comparisons ----
FAILED=()
compare() { # LABEL A B NAME-A NAME-B [informational]
	local label=$1
	echo "-- $label: $4 vs $5" >&2
	local rc=0
	"$WORK/cmpjson" -a "$4" -b "$5" "$2" "$3" >&2 || rc=$?
	if ((rc == 0)); then
		return 0
	fi
	if ((rc == 1)) && [[ ${6:-} == informational ]]; then
		echo "   (differences expected here: see docs/ccusage-parity.md)" >&2
		return 0
	fi
	FAILED+=("$label: $4 vs $5")
}

# The real transcripts, copied into $WORK/real/projects (only the projects tree: both tools then
# see exactly the same files, whatever else lies beside it).
real_tree() {
	local src=$1 dst=$WORK/real
	rm -rf "$dst"
	mkdir -p "$dst/projects"
	if [[ -d $src/projects ]]; then
		cp -R "$src/projects/." "$dst/projects/"
	elif [[ $(basename "$src") == projects ]]; then
		cp -R "$src/." "$dst/projects/"
	elif [[ -n $(find "$src" -mindepth 2 -name '*.jsonl' -print -quit) ]]; then
		# Already <project>/<session>.jsonl (+ subagents): the folder is the projects folder.
		cp -R "$src/." "$dst/projects/"
	else
		local f sid
		mkdir -p "$dst/projects/-home-user-fixtures"
		for f in "$src"/*.jsonl; do
			sid=$(grep -o '"sessionId":"[^"]*"' "$f" | head -n 1 | cut -d'"' -f4 || true)
			[[ -n $sid ]] || sid=$(basename "$f" .jsonl)
			cp "$f" "$dst/projects/-home-user-fixtures/$sid.jsonl"
		done
	fi
	echo "$dst"
}
REAL_SRC=
for cand in "$REPO/traces/importers/testdata/claude-code" "$REAL_ARG" "${CLAUDE_CODE_FIXTURES:-}" \
	"$REPO/../shared/data/claude-code"; do
	if [[ -n $cand && -d $cand && -n $(find "$cand" -name '*.jsonl' -print -quit) ]]; then
		REAL_SRC=$cand
		break
	fi
done

if [[ -n $REAL_SRC ]]; then
	say "real transcripts: $REAL_SRC"
	REAL=$(real_tree "$REAL_SRC")
	run_ccusage "$REAL" "$OUT/real.ccusage.json"
	echo "ccusage total: $(grep -o '"totalCost": [^,}]*' "$OUT/real.ccusage.json" | tail -n 1)" >&2
	if [[ $TARSOPT_OK == 1 ]]; then
		run_tarsopt "$REAL" "$OUT/real.tarsopt.json" && compare real "$OUT/real.ccusage.json" \
			"$OUT/real.tarsopt.json" ccusage tarsopt || FAILED+=("real: tarsopt cost failed")
	fi
else
	say "real transcripts: none found (give a folder as argument or CLAUDE_CODE_FIXTURES): skipped"
fi

say "differences fixture: benchmarks/ccusage/testdata/differences"
DIFFS=$HERE/testdata/differences
run_ccusage "$DIFFS" "$OUT/diffs.ccusage.json"
compare "diffs (ccusage's documented rules)" "$OUT/diffs.ccusage.json" "$DIFFS/expected-ccusage.json" \
	ccusage expected-ccusage
if [[ $TARSOPT_OK == 1 ]]; then
	if run_tarsopt "$DIFFS" "$OUT/diffs.tarsopt.json"; then
		compare "diffs (Anthropic's rules)" "$OUT/diffs.tarsopt.json" "$DIFFS/expected-anthropic.json" \
			tarsopt expected-anthropic
		compare "diffs" "$OUT/diffs.ccusage.json" "$OUT/diffs.tarsopt.json" ccusage tarsopt informational
	else
		FAILED+=("diffs: tarsopt cost failed")
	fi
fi

say "generated corpus: gencorpus -seed $SEED -lines $LINES -sessions $SESSIONS"
CORPUS=$WORK/corpus
rm -rf "$CORPUS"
"$WORK/gencorpus" -o "$CORPUS" -seed "$SEED" -lines "$LINES" -sessions "$SESSIONS"
run_ccusage "$CORPUS" "$OUT/corpus.ccusage.json"
compare "corpus (no known difference triggered)" "$OUT/corpus.ccusage.json" \
	"$CORPUS/expected-anthropic.json" ccusage expected
if [[ $TARSOPT_OK == 1 ]]; then
	if run_tarsopt "$CORPUS" "$OUT/corpus.tarsopt.json"; then
		compare corpus "$OUT/corpus.ccusage.json" "$OUT/corpus.tarsopt.json" ccusage tarsopt
		compare "corpus (Anthropic's rules)" "$OUT/corpus.tarsopt.json" "$CORPUS/expected-anthropic.json" \
			tarsopt expected
	else
		FAILED+=("corpus: tarsopt cost failed")
	fi
fi

# ---- 4. timing ----
say "timing on the corpus ($LINES lines, $(du -sh "$CORPUS/projects" | cut -f1)): $RUNS runs each, alternating"
GNUTIME=/usr/bin/time
if ! "$GNUTIME" -V 2>&1 | grep -q GNU; then
	if command -v apt-get >/dev/null && [[ $(id -u) == 0 ]]; then
		echo "installing GNU time (apt-get install -y time)" >&2
		{ apt-get install -y time || { apt-get update && apt-get install -y time; }; } >/dev/null 2>&1 || true
	fi
fi
if ! "$GNUTIME" -V 2>&1 | grep -q GNU; then
	echo "GNU time (/usr/bin/time) is missing: timing skipped (apt-get install -y time)" >&2
else
	# time_one NAME OUTFILE CMD...: appends "seconds kbytes" to $OUT/NAME.times
	time_one() {
		local name=$1 out=$2
		shift 2
		"$GNUTIME" -v -o "$WORK/time.txt" "$@" >"$out" 2>"$WORK/time.stderr" || {
			cat "$WORK/time.stderr" >&2
			return 1
		}
		awk -F': ' '
			/Elapsed \(wall clock\)/ { n = split($2, p, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + p[i] }
			/Maximum resident set size/ { kb = $2 }
			END { printf "%.2f %d\n", s, kb }' "$WORK/time.txt" >>"$OUT/$name.times"
	}
	rm -f "$OUT"/*.times
	for i in $(seq "$RUNS"); do
		ccusage_cmd "$CORPUS"
		(cd "$WORK/home" && time_one ccusage "$WORK/run.ccusage.json" "${CMD[@]}")
		if [[ $TARSOPT_OK == 1 ]]; then
			tdir=$CORPUS
			[[ $TARSOPT_INPUT == projects ]] && tdir=$CORPUS/projects
			time_one tarsopt "$WORK/run.tarsopt.json" \
				"$TARSOPT" cost --from claude-code "$tdir" --json --tz UTC || true
		fi
	done
	# median (sort -n, middle value; mean of the two middle ones for an even count) of a column
	median() { # FILE COLUMN
		sort -n -k"$2","$2" "$1" | awk -v c="$2" '{ v[NR] = $c }
			END { m = int((NR + 1) / 2); print (NR % 2) ? v[m] : (v[m] + v[m + 1]) / 2 }'
	}
	maxcol() { sort -n -k"$2","$2" "$1" | tail -n 1 | awk -v c="$2" '{ print $c }'; }
	row() { # NAME FILE
		awk -v n="$1" -v r="$(wc -l <"$2")" -v w="$(median "$2" 1)" -v m="$(median "$2" 2)" \
			-v x="$(maxcol "$2" 2)" 'BEGIN { printf "%-8s %5d %14.2f %13.1f MB %11.1f MB\n", n, r, w, m / 1024, x / 1024 }' >&2
	}
	printf '%-8s %5s %14s %16s %14s\n' tool runs "median wall s" "median peak RSS" "max peak RSS" >&2
	row ccusage "$OUT/ccusage.times"
	if [[ -s $OUT/tarsopt.times ]]; then
		row tarsopt "$OUT/tarsopt.times"
		awk -v cw="$(median "$OUT/ccusage.times" 1)" -v tw="$(median "$OUT/tarsopt.times" 1)" \
			-v cr="$(median "$OUT/ccusage.times" 2)" -v tr="$(median "$OUT/tarsopt.times" 2)" 'BEGIN {
			printf "ratio tarsopt/ccusage (medians): wall %.2fx, peak RSS %.2fx\n", (cw > 0 ? tw / cw : 0), (cr > 0 ? tr / cr : 0) }' >&2
	fi
	echo "(machine: $(nproc) cores; ccusage reads files on all of them, load average $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?'))" >&2
fi

# ---- summary ----
say "summary"
if ((${#FAILED[@]} > 0)); then
	printf 'FAILED: %s\n' "${FAILED[@]}" >&2
	exit 1
fi
if [[ $TARSOPT_OK == 0 ]]; then
	echo "ccusage runs and corpus checks passed; tarsopt NOT compared: $TARSOPT_WHY" >&2
	exit 3
fi
echo "all comparisons agree to half a cent" >&2
