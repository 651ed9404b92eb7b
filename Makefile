# On a fresh clone, two commands do all the set-up (README): `make run` and `make test`.
# Each creates the virtual environment .venv from the lock files (requirements*.lock) on first use.
#   make run        the notebook on data/sample (WEIGHTS=file.h5 offline)
#   make test       the whole suite, what CI runs (docs/testing.md)
#   make test-fast  the fast tier: the notebook's functions and the scripts, no whole-notebook run
#   make bench      the benchmark (bench/README.md)
#   make bench-driver  the driver's part at 100,000 and 1,000,000 images (bench/README.md)
#   make lock       the lock files, after editing requirements*.txt or requirements-worker.in
#   make wheelhouse the wheels for EMR clusters without internet (docs/emr-install.md)

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Offline (no internet for the ImageNet download): make run WEIGHTS=path/to/weights.h5
WEIGHTS ?=

# Local Spark binds to loopback; its Python workers run the project's interpreter.
export SPARK_LOCAL_IP ?= 127.0.0.1
export PYSPARK_PYTHON := $(abspath $(BIN)/python)

.PHONY: run test test-fast bench bench-driver sample clean java lock wheelhouse

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
$(BIN)/.runtime: requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements.lock
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (fruits)"
	touch $@

# sparkmagic without its Kerberos build chain: see requirements-sparkmagic.txt.
# requirements-s3a-test.txt is test-only and installed without dependencies (see the file).
$(BIN)/.dev: requirements-dev.lock requirements-sparkmagic.txt requirements-s3a-test.txt $(BIN)/.runtime
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements-dev.lock
	$(BIN)/python -m pip install --quiet --no-deps -r requirements-sparkmagic.txt
	$(BIN)/python -m pip install --quiet --no-deps -r requirements-s3a-test.txt
	touch $@

# The locks: every package pinned, with its hashes, for EMR's platform (Linux x86_64, CPython 3.11;
# Amazon Linux 2023's glibc 2.34). requirements-worker.lock (what core nodes install) and
# requirements-dev.lock (the tests' tools) are compiled with requirements.lock as constraint, so they
# share its versions. Run after editing requirements*.txt or requirements-worker.in (needs PyPI);
# pins already in a lock stay unless a requirement moves them (delete the locks to update them all).
LOCK_TOOLS := build/lock-tools/bin
COMPILE := $(LOCK_TOOLS)/uv pip compile --quiet --generate-hashes --python-version 3.11 \
	--python-platform x86_64-manylinux_2_34
lock: $(LOCK_TOOLS)/.done
	$(COMPILE) requirements.txt -o requirements.lock
	$(COMPILE) requirements-worker.in -c requirements.lock -o requirements-worker.lock
	$(COMPILE) requirements-dev.txt -c requirements.lock -o requirements-dev.lock

$(LOCK_TOOLS)/.done:
	$(PYTHON) -m venv build/lock-tools
	$(LOCK_TOOLS)/python -m pip install --quiet pip==26.3 uv==0.13.8
	touch $@

# Wheelhouse for clusters without internet (docs/emr-install.md): the wheels of the EMR nodes' two
# package sets, for their platform, checked against the locks' hashes. bootstrap/upload.sh copies it
# to S3. pyspark (EMR ships it, and PyPI has only its source) is left out, as the bootstrap does.
# pip's --platform matches wheel tags exactly (manylinux2014 also admits 2010 and 1): hence one tag
# for each glibc from 2.17 to 2.34 (`pip download --help`; pip's compatibility_tags.py).
WHEELHOUSE ?= build/wheelhouse
WHEEL_PLATFORMS := manylinux2014_x86_64 $(foreach minor,$(shell seq 17 34),manylinux_2_$(minor)_x86_64)
DOWNLOAD_WHEELS = $(LOCK_TOOLS)/python -m pip download --quiet --only-binary=:all: --python-version 3.11 \
	--implementation cp $(addprefix --platform ,$(WHEEL_PLATFORMS)) --require-hashes
wheelhouse: $(WHEELHOUSE)/worker/.done $(WHEELHOUSE)/primary/.done

$(WHEELHOUSE)/worker/.done: requirements-worker.lock $(LOCK_TOOLS)/.done
	rm -rf $(@D)
	$(DOWNLOAD_WHEELS) -r requirements-worker.lock -d $(@D)
	touch $@

$(WHEELHOUSE)/primary/.done: requirements.lock $(LOCK_TOOLS)/.done
	rm -rf $(@D)
	awk '/^[^ #]/ { skip = /^pyspark==/ } !skip' requirements.lock | $(DOWNLOAD_WHEELS) -r /dev/stdin -d $(@D)
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

# The driver's part at scale (prints a table, writes build/bench/driver/results.json): about 15 minutes.
bench-driver: $(BIN)/.runtime java
	$(BIN)/python bench/driver_steps.py
