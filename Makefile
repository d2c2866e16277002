# kvcsi — run `make help` for the targets.
SHELL := /usr/bin/env bash
GO ?= go
# The linter, pinned; `go run pkg@version` builds it once into the Go build cache.
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo v0.0.0-dev)
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
SOURCE_URL ?= https://github.com/kvcsi/kvcsi
# Build date from the commit, never the wall clock: SOURCE_DATE_EPOCH when set
# (reproducible-builds.org), else the commit time. Binary and image carry the same date.
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)
BUILD_DATE := $(shell date -u -d @$(SOURCE_DATE_EPOCH) +%Y-%m-%dT%H:%M:%SZ 2>/dev/null || date -u -r $(SOURCE_DATE_EPOCH) +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS := -s -w -X github.com/kvcsi/kvcsi/provider/version.BuildVersion=$(VERSION) \
	-X github.com/kvcsi/kvcsi/provider/version.BuildDate=$(BUILD_DATE)
BIN := bin
IMAGE ?= kvcsi:$(VERSION)
# make image: output folder, and the platforms of the no-Docker build.
IMAGE_OUT ?= $(BIN)/image
IMAGE_PLATFORMS := linux/amd64 linux/arm64
IMAGE_TOOL := $(BIN)/image-tool
FUZZTIME ?= 5s
PLATFORMS := linux/amd64 linux/arm64 windows/amd64

.DEFAULT_GOAL := help

.PHONY: help
help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

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
lint: ## gofmt, go vet and staticcheck (built from its pinned module)
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...
	cd tools/image && $(GO) vet ./... && $(GO) run $(STATICCHECK) ./...

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

# The image's binaries: static, pinned to the baseline instruction sets and without VCS
# stamping (the commit is in the labels), so the same commit gives the same bytes anywhere.
image_binary = CGO_ENABLED=0 GOOS=$(1) GOARCH=$(2) GOAMD64=v1 GOARM64=v8.0 \
	$(GO) build -trimpath -buildvcs=false -ldflags "$(LDFLAGS)" -o $(3) ./cmd/kvcsi
IMAGE_META = --source $(SOURCE_URL) --revision $(REVISION) --version $(VERSION) --epoch $(SOURCE_DATE_EPOCH)

.PHONY: image
image: ## OCI images for linux/amd64 + linux/arm64 without Docker: bin/image/{oci/,*.tar,*.cdx.json}
	@set -e; bins=; for p in $(IMAGE_PLATFORMS); do \
		os=$${p%/*}; arch=$${p#*/}; out=$(IMAGE_OUT)/$$os-$$arch/kvcsi; \
		echo "== $$p: $$out"; \
		$(call image_binary,$$os,$$arch,$$out); \
		bins="$$bins --binary $$p=$$out"; \
	done; \
	$(MAKE) --no-print-directory image-tool; \
	echo "== image layout, docker-archive tarballs and SBOMs in $(IMAGE_OUT)"; \
	$(IMAGE_TOOL) build --out $(IMAGE_OUT) --cache $(IMAGE_OUT)/cache --license LICENSE $(IMAGE_META) $$bins

# The Dockerfile's build stage: the same files for one platform, as a folder to COPY.
ROOTFS_OUT ?= $(BIN)/rootfs
IMAGE_PLATFORM ?= linux/amd64
.PHONY: image-rootfs
image-rootfs: ## The image's files for IMAGE_PLATFORM as a folder ROOTFS_OUT (used by the Dockerfile)
	@set -e; p=$(IMAGE_PLATFORM); os=$${p%/*}; arch=$${p#*/}; out=$(IMAGE_OUT)/$$os-$$arch/kvcsi; \
	$(call image_binary,$$os,$$arch,$$out); \
	$(MAKE) --no-print-directory image-tool; \
	rm -rf $(ROOTFS_OUT); \
	$(IMAGE_TOOL) rootfs --out $(ROOTFS_OUT) --cache $(IMAGE_OUT)/cache --license LICENSE --binary $$out $(IMAGE_META)

.PHONY: image-tool
image-tool:
	cd tools/image && CGO_ENABLED=0 $(GO) build -trimpath -o $(CURDIR)/$(IMAGE_TOOL) .

.PHONY: image-check
image-check: image-tool ## Prove bin/image: tool tests, config/files/ELF/CA/SBOM, --version and a demo mount from the unpacked image
	cd tools/image && $(GO) vet ./... && $(GO) test -count=1 ./...
	@echo "== the Dockerfile's build stage for this machine (make image-rootfs)"
	$(MAKE) --no-print-directory image-rootfs IMAGE_PLATFORM=$$($(GO) env GOOS)/$$($(GO) env GOARCH) ROOTFS_OUT=$(BIN)/rootfs-check
	$(IMAGE_TOOL) check --image $(IMAGE_OUT) --repo $(CURDIR) --rootfs $(BIN)/rootfs-check $(IMAGE_META)

# A second build from a cold Go build cache into another folder must give the same
# bytes (binaries, layout, tarballs, SBOMs) and so the same digests.
.PHONY: image-reproducible
image-reproducible: ## Build the images a second time from a cold Go cache and require identical digests and bytes
	@set -e; [ -f $(IMAGE_OUT)/digests.txt ] || { echo "run make image first"; exit 1; }; \
	cache=$$(mktemp -d); trap 'rm -rf $$cache' EXIT; \
	rm -rf $(IMAGE_OUT)-again; mkdir -p $(IMAGE_OUT)-again; cp -r $(IMAGE_OUT)/cache $(IMAGE_OUT)-again/; \
	GOCACHE=$$cache $(MAKE) --no-print-directory image IMAGE_OUT=$(IMAGE_OUT)-again; \
	if diff -r -q -x cache $(IMAGE_OUT) $(IMAGE_OUT)-again; then \
		echo "== reproducible: $$(head -1 $(IMAGE_OUT)/digests.txt)"; rm -rf $(IMAGE_OUT)-again; \
	else echo "== NOT reproducible: compare $(IMAGE_OUT) and $(IMAGE_OUT)-again"; exit 1; fi

.PHONY: docker-image
docker-image: ## Build the same image with a Docker engine (buildx) for users who have one
	docker buildx build --build-arg VERSION=$(VERSION) --build-arg REVISION=$(REVISION) \
		--build-arg SOURCE_URL=$(SOURCE_URL) --build-arg SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) \
		--build-arg CREATED=$(BUILD_DATE) --platform linux/amd64,linux/arm64 -t $(IMAGE) .

.PHONY: clean
clean: ## Remove build output and the demo folder
	rm -rf $(BIN) demo-mount
