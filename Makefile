# auscult: two commands on a fresh machine (Python 3.10+ and the package registries):
#   make demo   set up .venv, run the whole workflow on built-in synthetic data
#   make test   set up .venv, run the test suite
# Others: make bench (throughput figures), make forecast (paper-budget compute), make lint, make quick (real data, 2 CPU cores),
# make cpu (real data, every training record, a budget that learns on 2 CPU cores),
# make rehearsal (the paper budget's shapes on real data, steps/evaluation records/seeds capped:
# docs/rehearsal.md; `auscult doctor --budget rehearsal` first),
# make lock (re-pin requirements.lock, with hashes, and requirements-cpu.lock after editing requirements.in).
# LOCK=requirements-cpu.lock (with a fresh VENV) installs CPU-only torch wheels instead of the CUDA ones:
#   make install LOCK=requirements-cpu.lock VENV=.venv-cpu   (docs/packaging.md)

PYTHON ?= python3
VENV   ?= .venv
# The pinned environment `make install` installs: requirements.lock (hash-checked, the registry's
# CUDA-built torch, which also runs on CPU) or requirements-cpu.lock (torch +cpu wheels from
# download.pytorch.org/whl/cpu, no nvidia-* packages, no hashes).
LOCK   ?= requirements.lock
BIN    := $(VENV)/bin
CORES  ?= 2
# Installed-state stamp: changes whenever the lock file or the package metadata change.
STAMP  := $(VENV)/.installed-$(shell cat $(LOCK) pyproject.toml | sha1sum | cut -c1-12)
# One Koike training rule per model (koike_run_<model>), one thread each in the demo
KOIKE_RUN_THREADS := $(foreach m,cnn14 vgg16 vgg19 mobilenet_v2 resnet18 resnext50_32x4d resnext101_32x8d resnext101_32x8d_wsl,koike_run_$(m)=1)
# Demo models and datasets are tiny: one thread per job lets jobs run side by side (a feature
# job with one thread works in-process, without a pool to start).
DEMO_THREADS := --set-threads features=1 cross_dataset_score=1 audiofuse_train=1 audiofuse_evaluate=1 $(KOIKE_RUN_THREADS) ast_sam_train=1 ast_sam_evaluate=1
# Snakemake's script/shell jobs must find the venv's python, papermill and jupyter.
RUN    := PATH="$(abspath $(BIN)):$$PATH" DVC_NO_ANALYTICS=1

.PHONY: install demo demo-threads test quick cpu rehearsal bench forecast lint lock clean-demo

install: $(STAMP)

$(STAMP): $(LOCK) pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -r $(LOCK)
	@# this package was the distribution `auscult` before it became `auscult-repro` (docs/packaging.md):
	@# an older venv's editable `auscult` would shadow the new one's command
	@$(BIN)/python -m pip uninstall -q -y --disable-pip-version-check auscult > /dev/null 2>&1 || true
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps -e .
	$(BIN)/python -m auscult.features.warmup
	@rm -f $(VENV)/.installed-* && touch $@

demo: install
	$(RUN) $(BIN)/snakemake --cores $(CORES) $(DEMO_THREADS) --configfile config/demo.yaml -- all
	@echo
	@echo "Demo tables (data=synthetic, budget=demo): $(CURDIR)/reports/tables/"
	@ls reports/tables/*.md
	@echo "Figures: $(CURDIR)/reports/figures/   Report: $(CURDIR)/reports/report.html"

# The demo's --set-threads flags, for tests/test_workflow.py (which runs make demo's workflow)
demo-threads:
	@echo $(DEMO_THREADS)

test: install
	$(RUN) $(BIN)/python -m pytest -ra --durations=15 -n $(CORES) --dist loadfile --no-loadscope-reorder

quick: install
	$(RUN) $(BIN)/snakemake --cores $(CORES) --configfile config/quick.yaml -- all

cpu: install
	$(RUN) $(BIN)/snakemake --cores $(CORES) --configfile config/cpu.yaml -- all

# The paper budget's shapes, architectures, inputs, batch sizes and protocols with only the
# optimizer steps per job, evaluation records and seeds capped (config/rehearsal.yaml)
rehearsal: install
	$(RUN) $(BIN)/snakemake --cores $(CORES) --configfile config/rehearsal.yaml -- all

bench: install
	$(RUN) $(BIN)/python benchmarks/run_all.py

forecast: install
	$(RUN) $(BIN)/python benchmarks/forecast.py

# ruff (Python) and snakefmt (Snakefile, workflow/Snakefile, workflow/rules/*.smk; `snakefmt
# Snakefile workflow` reformats, `--diff` shows what it would change)
lint: install
	$(BIN)/ruff check src tests workflow benchmarks tools
	$(BIN)/snakefmt --check Snakefile workflow src/auscult/papers tests/toy_paper

# pip-compile (pip-tools, in its own venv so that it never changes the pinned one) keeps the
# pins already in requirements.lock that still satisfy requirements.in, and writes every
# distribution's sha256; requirements-cpu.lock is derived from it (tools/cpu_lock.py).
LOCK_VENV ?= .venv-lock
PIP_TOOLS ?= pip-tools==7.7.0
lock:
	@test -x $(LOCK_VENV)/bin/pip-compile || { $(PYTHON) -m venv $(LOCK_VENV) && \
	  $(LOCK_VENV)/bin/python -m pip install -q --disable-pip-version-check -U pip $(PIP_TOOLS); }
	CUSTOM_COMPILE_COMMAND="make lock" $(LOCK_VENV)/bin/pip-compile --quiet --generate-hashes --allow-unsafe \
	  --strip-extras --no-emit-index-url --no-emit-find-links --output-file requirements.lock requirements.in
	$(PYTHON) tools/cpu_lock.py requirements.lock requirements-cpu.lock
