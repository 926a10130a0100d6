# thermowatt: the two set-up commands of the README are `make run` and `make test`.
GO      ?= go
BIN     := bin/thermowatt
GOFLAGS ?=

.PHONY: run build test test-go test-firmware lint fmt clean bench

## run: build and start the service on the embedded SQLite database (./data)
run: build
	./$(BIN) serve

## build: compile the one binary into bin/thermowatt
build:
	$(GO) build -o $(BIN) ./cmd/thermowatt

## test: every test: Go (both backends; PostgreSQL when TEST_DATABASE_URL is set), firmware in the MicroPython VM, browser
test: test-go test-firmware

test-go:
	$(GO) test -race -count=1 ./...

test-firmware: build
	cd esp32 && npm ci --no-audit --no-fund && THERMOWATT_BIN=$(CURDIR)/$(BIN) npm test

## bench: the performance run of docs/benchmarks.md (PostgreSQL at BENCH_DATABASE_URL, then SQLite; BENCH_DURATION, BENCH_ROWS)
bench: build
	$(GO) run ./internal/bench/cmd

## lint: formatting and vet
lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin
