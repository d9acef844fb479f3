# Two commands do all set-up on a fresh machine with Python 3.10+:
#   make run   -> .venv, sample dataset, every notebook executed into runs/sample/
#   make test  -> same set-up, then unit tests and nbval over notebooks/
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PROFILE ?= sample
RUNS   := runs/$(PROFILE)
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))
# torch/torchvision releases this course is tested with; override for your CUDA.
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1
# Everything run from here (tests, papermill, Jupyter, benchmarks) gets sleeping OpenMP threads: spinning ones
# made torch 3-10x slower on a shared 2-core machine (README, "Shared CPUs"). fashionlib itself sets nothing
# at import; `make OMP_WAIT_POLICY=ACTIVE ...` or your own setting wins.
OMP_WAIT_POLICY ?= PASSIVE
export OMP_WAIT_POLICY
UNIT  := FASHIONLIB_FAST=1 $(BIN)/python -m pytest tests
NBVAL := FASHIONLIB_FAST=1 $(BIN)/python -m pytest --nbval-lax notebooks -p no:cacheprovider

.PHONY: setup sample run test test-unit test-nbval unit nbval lab lint bench bench-detector bench-gan bench-eval bench-kill bench-gan-ablation bench-gan-candidates notebooks clean detectron2 test-widgets7 test-browser

$(BIN)/fashionlib: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install $(TORCH_SPEC)
	$(BIN)/python -m pip install -e ".[dev]"
	touch $@

setup: $(BIN)/fashionlib

sample: setup
	$(BIN)/fashionlib sample-data data/sample/DeepFashion

# Execute every notebook headless, in order; executed copies go to runs/<profile>/notebooks.
run: sample
	mkdir -p $(RUNS)/notebooks
	@for nb in $(NOTEBOOKS); do \
	  echo "== $$nb"; \
	  $(BIN)/papermill --cwd notebooks "$$nb" "$(RUNS)/notebooks/$$(basename $$nb)" || exit 1; \
	done
	@echo "Executed notebooks and artifacts are in $(RUNS)/"

# Unit tests and nbval side by side: they share nothing on disk (unit tests write under pytest's tmp folders), and
# much of both is single-threaded (imports, process starts, small models), so two cores finish them sooner together.
# Each one's output is printed whole when it ends (-Otarget).
test: sample
	@$(MAKE) --no-print-directory -j2 -Otarget test-unit test-nbval

test-unit:
	$(UNIT)

test-nbval:
	$(NBVAL)

unit: setup
	$(UNIT)

# The widget tests under Colab's ipywidgets 7 (a throwaway venv; needs the package index, else skipped). ~30 s.
test-widgets7: setup
	FASHIONLIB_FAST=1 $(BIN)/python -m pytest -rs tests/test_widgets7.py

# Outside `make test` (a few minutes on 2 busy cores): JupyterLab served locally, Debian's headless Chromium
# (apt-get install chromium; nothing downloads a browser) opens notebook 07's explorer, drags a latent slider and
# compares two screenshots of the design (saved in runs/$(PROFILE)/browser/).
test-browser: setup
	$(BIN)/python tests/browser_check.py

nbval: sample
	$(NBVAL)

# Re-execute the notebooks in place (full sample profile) to refresh their stored outputs.
notebooks: sample
	@for nb in $(NOTEBOOKS); do \
	  echo "== $$nb"; \
	  $(BIN)/papermill --cwd notebooks "$$nb" "$$nb" || exit 1; \
	  $(BIN)/python -m fashionlib.notebook "$$nb" || exit 1; \
	done

lab: setup
	$(BIN)/jupyter lab notebooks/

lint: setup
	$(BIN)/ruff check fashionlib tests benchmarks

bench: sample
	$(BIN)/python benchmarks/convert_scale.py

# ~15 minutes on 2 cores: our detector loop vs the stock torchvision loop and detectron2 when installed (study
# config at 800 and 320, sample config).
bench-detector: sample
	$(BIN)/python benchmarks/detector_speed.py

bench-gan: sample
	$(BIN)/python benchmarks/gan_speed.py --recipes study small-data --breakdown

# The small-data recipe, one ingredient at a time (14 runs: 2,000 iterations at batch 8 or 1,000 at batch 16;
# about an hour on 2 idle cores, two runs at a time); finished runs are reused, so it can be stopped and restarted.
bench-gan-ablation: sample
	$(BIN)/fashionlib crop runs/$(PROFILE)/coco --images data/sample/DeepFashion --out runs/$(PROFILE)/crops_gt
	OMP_NUM_THREADS=1 $(BIN)/python benchmarks/gan_ablation.py --shard 0/2 & \
	OMP_NUM_THREADS=1 $(BIN)/python benchmarks/gan_ablation.py --shard 1/2; wait
	$(BIN)/python benchmarks/gan_ablation.py --report

# The small-data recipe's candidates at the full budget (two at a time, one thread each, 17 minutes: ~2 hours).
bench-gan-candidates: sample
	for i in 0 2 4; do \
	  OMP_NUM_THREADS=1 $(BIN)/python benchmarks/gan_candidates.py train --index $$i & \
	  OMP_NUM_THREADS=1 $(BIN)/python benchmarks/gan_candidates.py train --index $$((i + 1)); wait; \
	done
	# the seed / EMA pairs: equal work (the recipe's 3,946 updates) rather than equal minutes
	OMP_NUM_THREADS=1 $(BIN)/python benchmarks/gan_candidates.py train --index 6 --iters 3946 & \
	OMP_NUM_THREADS=1 $(BIN)/python benchmarks/gan_candidates.py train --index 7 --iters 3946; wait
	# the study DCGAN's own spread, at the notebook run's 3,448 updates
	OMP_NUM_THREADS=1 $(BIN)/python benchmarks/gan_candidates.py train --index 8 --iters 3448 & \
	OMP_NUM_THREADS=1 $(BIN)/python benchmarks/gan_candidates.py train --index 9 --iters 3448; wait
	$(BIN)/python benchmarks/gan_candidates.py report

# ~5 minutes, ~8 GB RAM: COCO evaluation of 40,000 images x 100 detections vs pycocotools' own evaluate+accumulate.
bench-eval: setup
	$(BIN)/python benchmarks/eval_speed.py

# ~8 minutes on 2 busy cores: SIGKILL each trainer (detector, GAN) at 5 random moments after its first checkpoint,
# resume, compare bit for bit.
bench-kill: sample
	$(BIN)/python benchmarks/kill_resume.py

# Not in CI (slow): the full profile's code path on a generated DeepFashion-format tree of 20,000 images:
# convert, the study detector config for 2 iterations, evaluation on the whole val split, crops, 3 GAN
# iterations at 64 and 128 px; each stage's wall time and peak memory (README: Full profile smoke test).
# SMOKE_ARGS="--images 2000 --eval-max-images 60" runs the reduced version.
.PHONY: smoke-full
smoke-full: setup
	$(BIN)/python benchmarks/smoke_full.py $(SMOKE_ARGS)

# Optional second detector engine (fashionlib train-detector --engine detectron2). detectron2 is not on
# PyPI, so DETECTRON2 names what to install: a wheel, a source tarball or a pip URL. Default: the vendored
# wheel when it fits this .venv (its Python tag and torch version), else the vendored source, else
# upstream's git (compiles its C++/CUDA ops against the installed torch: hence --no-build-isolation).
# setuptools<81: detectron2.model_zoo imports pkg_resources, which setuptools 81 removed.
VENDOR     ?= ../shared/vendor
DETECTRON2 ?=
D2_GIT     := git+https://github.com/facebookresearch/detectron2.git
D2_WHEEL_TORCH := 2.14.1# the torch whose C++ ABI the vendored wheel is built against (vendor README)

detectron2: setup
	$(BIN)/python -m pip install "setuptools<81"
	@spec="$(DETECTRON2)"; \
	if [ -z "$$spec" ]; then \
	  whl=$$(ls $(VENDOR)/detectron2-*-$$($(BIN)/python -c 'import sys; print("cp%d%d" % sys.version_info[:2])')-*.whl 2>/dev/null | head -n1); \
	  tgz=$$(ls $(VENDOR)/detectron2-*.tar.gz 2>/dev/null | head -n1); \
	  torch=$$($(BIN)/python -c 'import torch; print(torch.__version__.split("+")[0])'); \
	  if [ -n "$$whl" ] && [ "$$torch" = "$(D2_WHEEL_TORCH)" ]; then spec=$$whl; \
	  elif [ -n "$$tgz" ]; then spec=$$tgz; else spec="$(D2_GIT)"; fi; \
	fi; \
	echo "installing detectron2 from $$spec"; \
	$(BIN)/python -m pip install --no-build-isolation "$$spec" "setuptools<81"
	$(BIN)/python -c "import detectron2, detectron2._C; print('detectron2', detectron2.__version__, 'ready')"

clean:
	rm -rf runs/ data/sample/ .pytest_cache
