# thermowatt: the two set-up commands of the README are `make run` and `make test`.
GO      ?= go
BIN     := bin/thermowatt
GOFLAGS ?=
SHELL   := /bin/bash
.SHELLFLAGS := -o pipefail -ec

.PHONY: run build test test-go test-firmware lint fmt clean

## run: build and start the service on the embedded SQLite database (./data)
run: build
	@echo "tip: make demo also runs 3 simulated devices, so the dashboard shows live curves"
	./$(BIN) serve

.PHONY: demo
## demo: like run, plus simulated devices sending readings through the API (serve --demo)
demo: build
	./$(BIN) serve --demo

## build: compile the one binary into bin/thermowatt
build:
	$(GO) build -o $(BIN) ./cmd/thermowatt

## test: every test: Go (both backends; PostgreSQL when TEST_DATABASE_URL is set), firmware in the MicroPython VM, browser
test: test-go test-firmware

# The store suites run verbose, filtered to their top-level results, so
# the output shows the conformance suite passing on each backend (or the
# PostgreSQL one skipped, outside CI, for want of TEST_DATABASE_URL).
test-go:
	$(GO) test -race -count=1 $$($(GO) list ./... | grep -v /internal/store/)
	$(GO) test -race -count=1 -v ./internal/store/... | grep -E '^(--- |ok|FAIL|PASS|panic)'

test-firmware: build
	cd esp32 && npm ci --no-audit --no-fund && THERMOWATT_BIN=$(CURDIR)/$(BIN) npm test

## lint: formatting and vet
lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin
