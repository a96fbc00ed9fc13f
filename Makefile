# The two entry points of README.md, plus the developer targets around them.
SWIFT ?= $(shell command -v swift || echo /opt/swift/usr/bin/swift)
CONFIG ?= release
MODEL ?= models/SmolLM2-135M-Instruct.Q4_1.gguf
PROMPT ?= What is the capital of France? Answer in one sentence.

.PHONY: setup build serve test bench fixtures clean

setup:
	@scripts/setup

build: setup
	$(SWIFT) build -c $(CONFIG)

# Until the HTTP server lands, `serve` answers one demo chat prompt with the default model.
serve: build
	$(SWIFT) run -c $(CONFIG) tessera generate --chat --max-tokens 64 --model $(MODEL) "$(PROMPT)"

# Release mode: the model tests run real forward passes, which unoptimized C code makes needlessly slow.
test: setup
	$(SWIFT) build -c $(CONFIG) --build-tests
	$(SWIFT) test -c $(CONFIG) --skip-build

# Tessera against llama.cpp (llama-cpp-python, 2 threads) on the same file; medians of ROUNDS alternating runs.
ROUNDS ?= 3
bench: build
	tools/bench/setup-venv
	BENCH_OUT=$(or $(BENCH_OUT),/dev/null) .venv-bench/bin/python tools/bench/compare.py .build/$(CONFIG)/tessera \
		.venv-bench/bin/python $(MODEL) $(ROUNDS)

# Rebuilds the committed parity fixtures with transformers + llama.cpp (dev-only; needs a few GB of PyPI packages).
fixtures:
	tools/reference/make-fixtures

clean:
	rm -rf .build
