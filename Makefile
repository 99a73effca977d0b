# disconnect-doctor — build, package, run and test the Functions custom handler.
# Every target works on a machine with only Go, Node.js and npm (PRODUCT.md §8).

GO          ?= go
FUNCTIONS   := $(notdir $(wildcard functions/*))
DIST        := dist/app
TEST_TIMEOUT ?= 15m
FUZZTIME    ?= 60s
# Package patterns for test/bench/fuzz/lint; override to narrow (PKGS=./handlers/...).
PKGS        ?= ./...

.PHONY: all build package run test bench lint fuzz clean deps

all: lint test build

## build: the static Linux handler binary the Functions host starts (host.json defaultExecutablePath).
build:
	CGO_ENABLED=0 GOOS=linux GOARCH=amd64 $(GO) build -o handler ./cmd/handler

## package: assemble the deployable app folder dist/app (host.json, <Function>/function.json, handler).
package: build
	rm -rf $(DIST)
	mkdir -p $(DIST)
	cp host.json .funcignore handler $(DIST)/
	for f in $(FUNCTIONS); do mkdir -p $(DIST)/$$f && cp functions/$$f/function.json $(DIST)/$$f/; done
	if [ -f local.settings.json ]; then cp local.settings.json $(DIST)/; fi
	@echo "packaged $(DIST): $(FUNCTIONS)"

## run: the main job on the embedded default (a simulated fleet through the real handlers).
run:
	$(GO) run ./cmd/handler run

# npm ci when node_modules is missing or older than the lock file (Azurite, pinned).
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

deps: node_modules/.package-lock.json

## test: every test, including the Table-storage tests against Azurite. Azurite missing = failure.
test: node_modules/.package-lock.json
	@test -x node_modules/.bin/azurite-table || { echo "make test: node_modules/.bin/azurite-table missing after npm ci" >&2; exit 1; }
	$(GO) test -count=1 -timeout $(TEST_TIMEOUT) $(PKGS)

## bench: benchmarks only (speed and memory are measured here, never in tests).
bench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)

## lint: go vet and gofmt; both must print nothing.
lint:
	$(GO) vet $(PKGS)
	@out=$$(find . -name '*.go' -not -path './node_modules/*' -not -path './dist/*' -not -path './.git/*' -exec gofmt -l {} +); \
	if [ -n "$$out" ]; then echo "gofmt -l:"; echo "$$out"; exit 1; fi

## fuzz: every fuzz target for FUZZTIME (default 60 s) each.
fuzz:
	@set -e; for pkg in $$($(GO) list $(PKGS)); do \
	  for fn in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== fuzz $$pkg $$fn ($(FUZZTIME))"; \
	    $(GO) test -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

clean:
	rm -rf handler dist out
