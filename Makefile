# The two entry points of README.md, plus the developer targets around them.
SWIFT ?= $(shell command -v swift || echo /opt/swift/usr/bin/swift)
CONFIG ?= release
MODEL ?= models/SmolLM2-135M-Instruct.Q4_1.gguf

.PHONY: setup build serve test bench bench-train loadtest soak crash-test fuzz fixtures clean

setup:
	@scripts/setup

build: setup
	$(SWIFT) build -c $(CONFIG)

DATA_DIR ?= data
PORT ?= 8080

# The OpenAI-compatible server on 127.0.0.1:$(PORT), with a demo tenant whose key and a curl line are printed first.
serve: build
	@scripts/demo-tenant $(DATA_DIR) .build/$(CONFIG)/tessera $(PORT) $(basename $(notdir $(MODEL)))
	TESSERA_ADMIN_KEY="$$(cat $(DATA_DIR)/admin.key)" .build/$(CONFIG)/tessera serve --model $(MODEL) --data-dir $(DATA_DIR) --port $(PORT)

# A load-test scenario against `make serve` (running in another terminal), with --setup: its tenants and adapters are
# made through the APIs and removed after; the JSON result and HTML report land in loadtest/results/.
SCENARIO ?= loadtest/scenarios/power-law-100.json
loadtest: build
	OPENAI_API_KEY="$$(cat $(DATA_DIR)/demo.key)" TESSERA_ADMIN_KEY="$$(cat $(DATA_DIR)/admin.key)" \
		.build/$(CONFIG)/tessera loadtest --scenario $(SCENARIO) --base-url http://127.0.0.1:$(PORT) --setup \
		--save-result --result-dir loadtest/results $(ARGS)

# Release mode: the model tests run real forward passes, which unoptimized C code makes needlessly slow.
test: setup
	$(SWIFT) build -c $(CONFIG) --build-tests
	$(SWIFT) test -c $(CONFIG) --skip-build
	tools/e2e/run .build/$(CONFIG)/tessera

# Tessera against llama.cpp's llama-bench and llama-batched-bench on the same file, 2 threads, at the avx2 level and
# (where the CPU has it) the avx512 one, each against llama.cpp built for that level; medians of ROUNDS alternating
# runs. The default file (with the mixed-adapter ratios), the Q4_K_M file llama-quantize makes from it, Gemma 3 270M
# (with the mixed-adapter ratios), and a 1B-class file in Llama 3.2 1B's shape with Llama 3's 128k vocabulary and
# random weights (made once by tools/reference/random_model.py, which needs the gguf and numpy packages: the
# reference venv's python when there is one).
ROUNDS ?= 3
BENCH_1B ?= models/llama3.2-1b-random-Q4_K_M.gguf
bench: build
	tools/bench/setup-llama
	scripts/fetch-model gemma3-270m
	MIXED=1 BENCH_OUT=$(or $(BENCH_OUT),/dev/null) python3 tools/bench/compare.py .build/$(CONFIG)/tessera $(MODEL) $(ROUNDS)
	python3 tools/bench/compare.py .build/$(CONFIG)/tessera models/SmolLM2-135M-Instruct.Q4_K_M.gguf $(ROUNDS)
	MIXED=1 python3 tools/bench/compare.py .build/$(CONFIG)/tessera models/gemma-3-270m-it-Q4_K_M.gguf $(ROUNDS)
	[ -f $(BENCH_1B) ] || $(if $(wildcard .venv-reference/bin/python),.venv-reference/bin/python,python3) \
	  tools/reference/random_model.py --shape llama3.2-1b --type Q4_K_M --seed 0 $(BENCH_1B)
	python3 tools/bench/compare.py .build/$(CONFIG)/tessera $(BENCH_1B) $(ROUNDS)
	.build/$(CONFIG)/tessera bench --tokenizer

# Training throughput and peak memory: `tessera bench --train` against transformers + peft (fp32, the same file,
# 2 threads, LoRA r16 on every linear projection, batches of 8 x 256 tokens), alternating; the venv is made once.
bench-train: build
	tools/bench/setup-train-reference
	python3 tools/bench/compare_train.py .build/$(CONFIG)/tessera $(MODEL) $(or $(TRAIN_ROUNDS),2)

# Mixed traffic of every adapter kind, uploads, deletes, hung-up clients and over-limit requests against one server;
# per-minute figures; fails on any 5xx or RSS growth past the bound after warm-up (tools/soak/soak.py). Not in `test`.
SOAK_MINUTES ?= 30
soak: build
	python3 tools/soak/soak.py .build/$(CONFIG)/tessera $(SOAK_MINUTES) $(or $(SOAK_WARMUP),5) $(SOAK_RESULT)

# SIGKILL at random points of uploads, deletes, key rotations and tenant creation; the invariants after every restart.
KILLS ?= 50
crash-test: build
	python3 tools/crash/kill_test.py .build/$(CONFIG)/tessera $(KILLS)

# libFuzzer + ASan/UBSan on every parser of untrusted bytes, FUZZ_SECONDS (default 120) per target (Fuzz/run).
fuzz: setup
	Fuzz/run $(TARGETS)

# Rebuilds the committed parity fixtures with transformers + llama.cpp (dev-only; needs a few GB of PyPI packages).
fixtures:
	tools/reference/make-fixtures

clean:
	rm -rf .build
