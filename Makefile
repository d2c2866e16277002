# kvcsi — run `make help` for the targets.
SHELL := /usr/bin/env bash
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo v0.0.0-dev)
BUILD_DATE ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS := -s -w -X github.com/kvcsi/kvcsi/provider/version.BuildVersion=$(VERSION) \
	-X github.com/kvcsi/kvcsi/provider/version.BuildDate=$(BUILD_DATE)
BIN := bin
IMAGE ?= kvcsi:$(VERSION)
FUZZTIME ?= 5s
PLATFORMS := linux/amd64 linux/arm64 windows/amd64

.DEFAULT_GOAL := help

.PHONY: help
help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## Build bin/kvcsi and bin/azure-emulator for this machine
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN)/kvcsi ./cmd/kvcsi
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/azure-emulator ./test/emulator/cmd/azure-emulator

.PHONY: build-all
build-all: ## Cross-compile kvcsi for linux/amd64, linux/arm64 and windows/amd64, vet each, compile every test for Windows
	@set -e; for p in $(PLATFORMS); do \
		os=$${p%/*}; arch=$${p#*/}; ext=; [ $$os = windows ] && ext=.exe; \
		echo "== $$os/$$arch"; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN)/$$os-$$arch/kvcsi$$ext ./cmd/kvcsi; \
		GOOS=$$os GOARCH=$$arch $(GO) vet ./...; \
	done
	@echo "== windows/amd64: compiling every test package"
	@set -e; for pkg in $$($(GO) list ./...); do \
		GOOS=windows GOARCH=amd64 $(GO) test -c -o /dev/null $$pkg >/dev/null; \
	done

.PHONY: lint
lint: ## gofmt and go vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

.PHONY: test
test: lint ## Unit and integration tests (race detector), then a short run of every fuzz target
	$(GO) test -race -count=1 -timeout 15m ./...
	$(MAKE) --no-print-directory fuzz

# A failing input is written to testdata/fuzz/<target>/ and printed, so that a CI log is
# enough to reproduce it. A failure that recorded no input (the fuzzing engine's own
# worker lost to a signal) is retried once; a recorded input fails at once.
.PHONY: fuzz
fuzz: ## Run every fuzz target for FUZZTIME (default 5s) each; print any failing input
	@set -e; log=$$(mktemp); trap 'rm -f $$log' EXIT; \
	for pkg in $$($(GO) list ./...); do \
		dir=$$($(GO) list -f '{{.Dir}}' $$pkg); \
		for f in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$dir/*_test.go 2>/dev/null | sed 's/func //'); do \
			for attempt in 1 2; do \
				echo "fuzz $$pkg $$f"; \
				before=$$(ls $$dir/testdata/fuzz/$$f 2>/dev/null | sort); \
				if $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg >$$log 2>&1; then break; fi; \
				echo "FAIL fuzz $$f (attempt $$attempt)"; tail -n 40 $$log; \
				new=$$(comm -13 <(echo "$$before") <(ls $$dir/testdata/fuzz/$$f 2>/dev/null | sort)); \
				for n in $$new; do echo "--- failing input $$dir/testdata/fuzz/$$f/$$n:"; cat $$dir/testdata/fuzz/$$f/$$n; done; \
				if [ -n "$$new" ] || [ $$attempt = 2 ]; then exit 1; fi; \
			done; \
		done; \
	done

.PHONY: demo
demo: ## Start the emulator and the provider, mount a sample SecretProviderClass into ./demo-mount and print the files
	$(GO) run ./test/demo --spc examples/secretproviderclass.yaml --target demo-mount

.PHONY: bench
bench: ## Benchmarks against the emulator with injected latency; writes docs/performance.md and docs/performance.svg
	$(GO) run ./test/bench --out docs

.PHONY: e2e
e2e: ## Real Secrets Store CSI Driver + kube-apiserver end to end (cold run builds pinned tools, ~15 min)
	cd test/e2e && $(GO) test -count=1 -timeout 80m ./...

.PHONY: image
image: ## Build the container image (needs a Docker engine)
	docker build --build-arg VERSION=$(VERSION) -t $(IMAGE) .

.PHONY: clean
clean: ## Remove build output and the demo folder
	rm -rf $(BIN) demo-mount
