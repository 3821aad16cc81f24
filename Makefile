# tarsopt: make demo (generate the baseline trace and run the main job on it), make test (what CI
# runs), make bench (the benchmarks). Needs only Go (see go.mod for the version).

GO       ?= go
BIN      ?= ./tarsopt
OUT      ?= out
REPORTS  ?= reports
# Fuzzing budget per target, as a count of executions: a duration (-fuzztime 3s) hits a race in
# Go's fuzz coordinator that fails a target at its deadline with "context deadline exceeded" and
# no crasher (golang/go#75804, fixed in Go 1.27); a count has no deadline.
FUZZTIME ?= 1000x

.PHONY: build demo test fmt-check vet unit fuzz-smoke bench clean

build:
	$(GO) build -o $(BIN) ./cmd/tarsopt

# The main job on the built-in default: the seed plan's 30-day baseline, generated, inspected,
# priced and replayed through the plan's strategies.
demo: build
	@mkdir -p $(OUT)
	@echo "== generating the tars-baseline trace (30 days, seed 1) into $(OUT)/base.parquet" >&2
	$(BIN) gen --profile tars-baseline --days 30 --seed 1 -o $(OUT)/base.parquet
	@echo "== inspecting it" >&2
	$(BIN) inspect $(OUT)/base.parquet
	$(BIN) inspect --json $(OUT)/base.parquet > $(OUT)/inspect.json
	@echo "== its exact cost at list prices" >&2
	$(BIN) cost --top 3 $(OUT)/base.parquet
	@echo "== replayed through the seed plan's strategies, beside the baseline" >&2
	$(BIN) replay --trace $(OUT)/base.parquet
	$(BIN) replay --trace $(OUT)/base.parquet --json --per-day > $(OUT)/replay.json
	@echo "== every figure of the plan against the replay, and the plan's own arithmetic" >&2
	$(BIN) validate --trace $(OUT)/base.parquet
	@echo "== backtest: calibrate on the first days, predict the rest, check the 90% intervals" >&2
	$(BIN) backtest --trace $(OUT)/base.parquet --calibrate 'strategies.router.bands[1].max=26:74:1' --target cheap_share=0.45
	@echo "== the bundled real Claude Code transcripts, imported and priced" >&2
	$(BIN) import --from claude-code traces/importers/testdata/claude-code -o $(OUT)/claude-code.parquet
	$(BIN) cost $(OUT)/claude-code.parquet
	@echo "== replayed with the provider's prompt cache recomputed at 5 minutes, then 1 hour (nothing else on)" >&2
	$(BIN) replay --trace $(OUT)/claude-code.parquet --config config/promptcache-only.json
	$(BIN) replay --trace $(OUT)/claude-code.parquet --config config/promptcache-only.json --set strategies.promptcache.ttl=1h
	@echo "== the bundled WEKA agentic traces, imported" >&2
	$(BIN) import --from weka traces/importers/testdata/weka -o $(OUT)/weka.parquet
	@echo "== the phase reports: Claude Code, WEKA, then the seed plan's baseline trace" >&2
	$(BIN) report --trace $(OUT)/claude-code.parquet --out $(REPORTS)/claude-code --samples 100 > /dev/null
	$(BIN) report --trace $(OUT)/weka.parquet --out $(REPORTS)/weka --samples 100 > /dev/null
	$(BIN) report --trace $(OUT)/base.parquet --out $(REPORTS) --samples 300 \
		--related "real Claude Code transcripts (bundled sample)=claude-code" --related "WEKA agentic traces (bundled sample)=weka" > /dev/null
	@echo "== done: traces and summaries in $(OUT)/; the reports are in $(REPORTS)/: open $(REPORTS)/index.html or read $(REPORTS)/README.md" >&2
	@echo "$(REPORTS)/index.html"

test: fmt-check vet unit fuzz-smoke

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

unit:
	$(GO) test ./...

# A few seconds of fuzzing per fuzz target, found by name in every package.
fuzz-smoke:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for target in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "fuzz $$pkg $$target ($(FUZZTIME))"; \
	    $(GO) test -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 100x $$pkg > /tmp/tarsopt-fuzz.log 2>&1 || { cat /tmp/tarsopt-fuzz.log; exit 1; }; \
	  done; \
	done

# Package benchmarks, the 1M-record codec and replay suites, then the 10,000-sample Monte Carlo on
# one worker and two (about 25 minutes in all).
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./money/... ./internal/... ./traces/...
	$(GO) test -run '^$$' -bench 'Decode|Encode|Replay' -benchtime 3x -timeout 60m ./benchmarks
	$(GO) test -run '^$$' -bench 'MonteCarlo' -benchtime 1x -timeout 60m ./benchmarks
	$(GO) test -run '^$$' -bench . -benchmem ./live/...
	$(GO) test -run '^$$' -bench 'Proxy/upstream=0s' -benchtime 4000x ./benchmarks
	$(GO) test -run '^$$' -bench 'Proxy/upstream=50ms/c=32' -benchtime 6000x ./benchmarks

clean:
	rm -rf $(BIN) $(OUT)
