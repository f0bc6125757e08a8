# The course's commands. Each target sets up what it needs on first use (a .venv from
# constraints.txt), so a fresh machine with Python 3.11 and make needs nothing else.
#   make lab      open the course in JupyterLab (chapters/)
#   make test     run every check: package, notebooks, release pipeline, browser
#   make release  regenerate chapters/ from solutions/ (instructors)
#   make grade SUBMISSIONS=<folder or .zip> [OUT=../grading]   autograde a class in a sandbox
#   make doctor   say what is installed and what is wrong, with a fix for each
#   make bench    the training benchmarks (mode coverage, VAE on digits, throughput); ~25 min
#   make lock     re-resolve the dependency ranges in pyproject.toml into constraints.txt

SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# Tests run in parallel on this many workers (notebooks are spread one file per worker).
JOBS ?= 2
# Set to 0 to never apt-get the Debian packages the tests use (those tests are then skipped with a reason).
INSTALL_SYSTEM_PACKAGES ?= 1

.PHONY: lab test release grade doctor bench lock system-packages clean

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed (found " + sys.version.split()[0] + "); run: make PYTHON=/path/to/python3.11")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); \
		echo "Could not create $(VENV) with $(PYTHON). On Debian/Ubuntu: sudo apt install python3-venv (or python3.11-venv)"; exit 1; }
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[test]"
	@touch $(STAMP)

lab: $(STAMP)
	$(BIN)/course lab

test: $(STAMP) system-packages
	$(BIN)/ruff check course_utils tests benchmarks nbgrader_config.py
	$(BIN)/python -m pytest -n $(JOBS) --dist loadfile

release: $(STAMP)
	$(BIN)/course release

# make grade SUBMISSIONS=<folder or .zip> [OUT=../grading] [JOBS=2]: autograde a class (README "Grading a class")
OUT ?= ../grading
grade: $(STAMP)
	@test -n "$(SUBMISSIONS)" || { echo 'usage: make grade SUBMISSIONS=<folder or .zip> [OUT=../grading] [JOBS=2]'; exit 2; }
	$(BIN)/course grade "$(SUBMISSIONS)" --out "$(OUT)" --jobs $(JOBS)

doctor: $(STAMP)
	$(BIN)/course doctor

# The training benchmarks (`course bench`, the same as benchmarks/*.py): about 25 min on 2 quiet
# cores. Tables on stdout, JSON in benchmarks/results/. `make bench BENCH_ARGS=--quick` checks the
# pipeline in a minute; BENCH_JOBS mode-coverage runs go in parallel, one single-threaded process each.
BENCH_JOBS ?= 2
BENCH_ARGS ?=
bench: $(STAMP)
	@mkdir -p benchmarks/results
	OMP_NUM_THREADS=1 $(BIN)/course bench mode-coverage --seeds 10 --jobs $(BENCH_JOBS) $(BENCH_ARGS) --out benchmarks/results/mode_coverage.json
	OMP_NUM_THREADS=1 $(BIN)/course bench vae-digits --seeds 3 $(BENCH_ARGS) --out benchmarks/results/vae_digits.json
	OMP_NUM_THREADS=1 $(BIN)/course bench throughput $(BENCH_ARGS) --out benchmarks/results/throughput.json

# Debian packages the tests need, installed when run as root with apt (as in CI):
#   chromium    drives the real-browser test (playwright never downloads a browser here);
#   bubblewrap  is the sandbox `course grade` runs each student's notebook in.
# Without them the browser test and the sandboxed grading tests are skipped with a reason.
SYSTEM_PACKAGES := chromium:chromium bwrap:bubblewrap
system-packages:
	@missing=""; for pair in $(SYSTEM_PACKAGES); do \
		command -v "$${pair%%:*}" >/dev/null 2>&1 || missing="$$missing $${pair#*:}"; done; \
	if [ -z "$$missing" ]; then :; \
	elif [ "$(INSTALL_SYSTEM_PACKAGES)" = 1 ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "Installing Debian's$$missing for the tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	else echo "Not installed:$$missing (the tests that need them will be skipped; install them with apt)"; fi

lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet "torch==$$(grep -Po '^torch==\K[0-9.]+' constraints.txt)" -e ".[dev]"
	{ sed -n '1,3p' constraints.txt; .lock-venv/bin/python -m pip freeze --exclude-editable \
		| grep -v '^-e' | sed -E 's/^torch==([0-9.]+)\+.*/torch==\1/'; } > constraints.txt.new
	mv constraints.txt.new constraints.txt && rm -rf .lock-venv

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
