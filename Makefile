# Two commands on a fresh machine (see README.md):
#   make reproduce   install everything, then run the main job on the built-in data set
#   make test        install everything, then run the test suite
VENV ?= .venv
PY := $(VENV)/bin/python
# The CPU wheel of torch must be installed before anything that depends on torch: a bare `torch`
# requirement with no torch installed pulls a multi-GB CUDA build.
TORCH_SPEC ?= torch==2.13.0
# The development set-up: every extra whose tests would otherwise skip (MLflow tracking, the browser test's
# Playwright) -- what CI runs. `make test EXTRAS=all,test` is the lighter set-up.
EXTRAS ?= all,test,mlflow,browser
JOBS ?= 2

.PHONY: install reproduce test bench clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH_SPEC)"
	$(PY) -m pip install --quiet -e ".[$(EXTRAS)]"
	touch $@

install: $(VENV)/.installed

reproduce: install
	$(VENV)/bin/mlml reproduce --jobs $(JOBS) --out runs/yeast-default

test: install
	$(PY) -m pytest -q -p no:cacheprovider

# Every benchmark with its default (short) settings; benchmarks/README.md names the flags of its full figures.
# Parts whose data, package or device (CUDA) is absent print why they skip.
bench: install
	@for script in benchmarks/bench_*.py; do \
		echo "== $$script"; start=$$(date +%s); \
		$(PY) $$script || exit 1; \
		echo "== $$script: $$(( $$(date +%s) - start )) s"; \
	done

clean:
	rm -rf $(VENV) runs .pytest_cache
