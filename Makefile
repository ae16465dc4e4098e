# Two commands on a fresh machine (see README.md):
#   make reproduce   install everything, then run the main job on the built-in data set
#   make test        install everything, then run the test suite
#   make wheel-check the built wheel, installed in a fresh venv outside the checkout, runs the main job
#   make docs        the documentation site into site/ (mkdocs build --strict: a warning or a broken link fails)
VENV ?= .venv
PY := $(VENV)/bin/python
# The CPU wheel of torch must be installed before anything that depends on torch: a bare `torch`
# requirement with no torch installed pulls a multi-GB CUDA build.
TORCH_SPEC ?= torch==2.13.0
# The development set-up: every extra whose tests would otherwise skip (MLflow tracking, the browser test's
# Playwright) -- what CI runs. `make test EXTRAS=all,test` is the lighter set-up.
EXTRAS ?= all,test,mlflow,browser
JOBS ?= 2

.PHONY: install reproduce test docs wheel-check bench clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH_SPEC)"
	$(PY) -m pip install --quiet -e ".[$(EXTRAS)]"
	touch $@

install: $(VENV)/.installed

# The main job: the paper's three methods (bce, im-wce, cb-wce), the best single baseline of the issue-21
# development grid (wan: best mean rank over its cells) and auto, each at its own threshold policy (docs/auto.md).
reproduce: install
	$(VENV)/bin/mlml reproduce --jobs $(JOBS) --methods bce,im-wce,cb-wce,wan,auto --thresholds own --out runs/yeast-default

test: install
	$(PY) -m pytest -q -p no:cacheprovider

$(VENV)/.docs-installed: $(VENV)/.installed
	$(PY) -m pip install --quiet -e ".[docs]"
	touch $@

# NO_MKDOCS_2_WARNING: silences the banner MkDocs 1.6 prints about its successor (not a build warning).
docs: $(VENV)/.docs-installed
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict

# The built wheel in a fresh virtual environment outside the checkout: mlml --help and the main job (.ci/wheel-check).
wheel-check: install
	TORCH_SPEC="$(TORCH_SPEC)" PYTHON=$(PY) bash .ci/wheel-check

# Every benchmark with its default (short) settings; benchmarks/README.md names the flags of its full figures.
# Parts whose data, package or device (CUDA) is absent print why they skip.
bench: install
	@for script in benchmarks/bench_*.py; do \
		echo "== $$script"; start=$$(date +%s); \
		$(PY) $$script || exit 1; \
		echo "== $$script: $$(( $$(date +%s) - start )) s"; \
	done

clean:
	rm -rf $(VENV) runs .pytest_cache site
