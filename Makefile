# Canvas Flow: `make demo` runs the product on SQLite against the sandbox Canvas,
# `make test` runs the whole suite, `make bench` measures the sync.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
export FLASK_APP := run
# glibc gives each thread that allocates its own malloc arena (up to 8 per core); a full sync's
# fetching threads then fragment many arenas and its peak RSS grew with the number of courses
# (measured: 191 -> 225 MB from 20 to 200 courses, 165 -> 185 MB with two arenas). Every process
# started here (the app, its workers, the benchmark's syncs) keeps to two; set it the same way
# where the app is started otherwise.
export MALLOC_ARENA_MAX ?= 2

.PHONY: demo test bench serve worker scheduler audit install install-dev clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: requirements.txt $(BIN)/python
	$(BIN)/pip install -q -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements-dev.txt requirements.txt $(VENV)/.installed
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

demo: install
	$(BIN)/flask --app run db upgrade
	$(BIN)/python run.py --demo

# Two workers, whole files each (a file's servers and fixtures stay in one process); TEST_WORKERS=0 runs serially.
TEST_WORKERS ?= 2
test: install-dev
	$(BIN)/python -m pytest $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadfile)

# Production-style serving: gunicorn with several workers, plus the one scheduler
# (`make scheduler`) and queue workers (`make worker`, or Celery) as their own processes.
# All three run the production config: it refuses to start with weak secrets (`flask --app run doctor`
# lists every unsafe setting).
GUNICORN_WORKERS ?= 3
serve worker scheduler: export CANVASFLOW_ENV := production
serve: install
	$(BIN)/flask --app run db upgrade
	PROMETHEUS_MULTIPROC_DIR=$${PROMETHEUS_MULTIPROC_DIR:-instance/prometheus} GUNICORN_WORKERS=$(GUNICORN_WORKERS) \
		$(BIN)/gunicorn --config gunicorn.conf.py run:app

scheduler: install
	$(BIN)/flask --app run scheduler

worker: install
	$(BIN)/flask --app run queue work

# Known advisories in the installed dependencies (pip-audit, from the PyPI advisory database).
audit: install-dev
	$(BIN)/pip-audit -r requirements.txt

bench: install-dev
	$(BIN)/python test_canvas_performance.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache
