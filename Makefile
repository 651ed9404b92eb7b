# On a fresh clone, two commands do all the set-up (README): `make run` and `make test`.
# Each creates the virtual environment .venv from the pinned requirements on first use.
#   make run        the notebook on data/sample (WEIGHTS=file.h5 offline)
#   make test       the whole suite, what CI runs (docs/testing.md)
#   make test-fast  the fast tier: the notebook's functions and the scripts, no whole-notebook run
#   make bench      the benchmark

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Offline (no internet for the ImageNet download): make run WEIGHTS=path/to/weights.h5
WEIGHTS ?=

# Local Spark binds to loopback; its Python workers run the project's interpreter.
export SPARK_LOCAL_IP ?= 127.0.0.1
export PYSPARK_PYTHON := $(abspath $(BIN)/python)

.PHONY: run test test-fast bench sample clean java

run: $(BIN)/.runtime data/sample/.done java
	mkdir -p output/local
	$(BIN)/papermill notebooks/featurize.ipynb output/local/featurize.ipynb -k python3 \
		-f params/local.yaml $(if $(WEIGHTS),-p weights "$(WEIGHTS)")
	@echo "done: output/local/featurize.ipynb, output/local/features/, output/local/pca_features.csv"

test: $(BIN)/.dev java
	$(BIN)/python -m pytest

# Tests marked slow run the whole notebook, a kernel, a Spark cluster or a server.
test-fast: $(BIN)/.dev
	$(BIN)/python -m pytest -m "not slow"

sample: data/sample/.done

data/sample/.done: tools/sample_images.py $(BIN)/.runtime
	rm -rf data/sample
	$(BIN)/python tools/sample_images.py data/sample --per-class 25
	touch $@

# The python3 kernel is installed into the environment itself, so papermill and nbval run the
# notebook on this environment's Python, whatever other kernels the machine has.
$(BIN)/.runtime: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (fruits)"
	touch $@

# sparkmagic without its Kerberos build chain: see requirements-sparkmagic.txt.
# requirements-s3a-test.txt is test-only and installed without dependencies (see the file).
$(BIN)/.dev: requirements-dev.txt requirements-sparkmagic.txt requirements-s3a-test.txt $(BIN)/.runtime
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --no-deps -r requirements-sparkmagic.txt
	$(BIN)/python -m pip install --quiet --no-deps -r requirements-s3a-test.txt
	touch $@

java:
	@command -v java >/dev/null 2>&1 || [ -n "$${JAVA_HOME:-}" ] || { \
		echo "Java not found: Spark needs a Java 17 runtime. Install OpenJDK 17" \
		     "(Debian/Ubuntu: sudo apt-get install openjdk-17-jre-headless; conda: conda env create" \
		     "-f environment.yml; macOS: brew install openjdk@17), then run make again." >&2; exit 1; }

clean:
	rm -rf build output data/sample

# Benchmark (prints a table, writes build/bench/results.json): 20 to 35 minutes on 2 cores.
bench: $(BIN)/.runtime java
	$(BIN)/python bench/run_benchmark.py
