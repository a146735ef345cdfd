# Entry points for people and CI. A new machine needs Python 3.11 and make, nothing else:
# the virtualenv, the Python packages and (unless DATABASE_URL / REDIS_URL are set) an embedded
# PostgreSQL and Redis under .data/ all come from here.
#
#   make run     set up, migrate, load the demo, start a Celery worker + beat, serve :8000 with
#                gunicorn (WEB_CONCURRENCY workers, default 2 x cores + 1)
#   make test    set up, run the whole test suite
#   make stop    stop the Celery worker and the embedded servers
#   make bench   run the benchmarks (bench/run.py; BENCH_ARGS="--help" for options)
#   make lint    ruff format --check and ruff check

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.ONESHELL:
.DEFAULT_GOAL := help

VENV := .venv
PYTHON := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
DATA := .data
WORKER_PID := $(DATA)/celery-worker.pid
WORKER_LOG := $(DATA)/celery-worker.log
ADDRESS ?= 127.0.0.1:8000
PYTEST_ARGS ?=
BENCH_ARGS ?=

.PHONY: help venv run test bench stop lint

help:
	@echo "make run     set up, migrate, load the demo data, start a Celery worker with beat and"
	echo "             serve http://$(ADDRESS)/ (admin at /admin/, health at /health/)"
	echo "make test    set up and run the whole test suite (pytest)"
	echo "make stop    stop the Celery worker and the embedded PostgreSQL and Redis"
	echo "make bench   run the benchmarks (bench/run.py)"
	echo "make lint    ruff format --check . and ruff check ."
	echo "Without DATABASE_URL / REDIS_URL, an embedded PostgreSQL and Redis run under $(DATA)/."

# The virtualenv: python3.11 if there is one, else python3 if it is 3.11 or later.
$(PYTHON):
	@for candidate in python3.11 python3; do
	  command -v "$$candidate" >/dev/null || continue
	  "$$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || continue
	  echo "creating $(VENV) with $$(command -v $$candidate)"
	  rm -rf $(VENV)
	  if "$$candidate" -m venv $(VENV); then exit 0; fi
	  rm -rf $(VENV)
	done
	echo "error: Python 3.11 or later with the venv module is needed (python3.11 -m venv)" >&2
	exit 1

# Reinstalls only when a requirements file changes (or the virtualenv is new).
$(INSTALLED): requirements.txt requirements-dev.txt | $(PYTHON)
	@echo "installing requirements-dev.txt into $(VENV)"
	$(PYTHON) -m pip install -q -r requirements-dev.txt
	touch $@

venv: $(INSTALLED)

# Stops the worker recorded in $(WORKER_PID): a warm shutdown (TERM) first, then KILL for it and
# its children (pool processes and the embedded beat) if it has not gone within 20 seconds.
define stop_worker
if [ -f $(WORKER_PID) ]; then
  pid=$$(cat $(WORKER_PID))
  if [ -n "$$pid" ] && kill -0 "$$pid" 2>/dev/null; then
    echo "stopping Celery worker (pid $$pid)"
    kill -TERM "$$pid" 2>/dev/null || true
    for _ in $$(seq 100); do kill -0 "$$pid" 2>/dev/null || break; sleep 0.2; done
    if kill -0 "$$pid" 2>/dev/null; then
      pkill -KILL -P "$$pid" 2>/dev/null || true
      kill -KILL "$$pid" 2>/dev/null || true
    fi
  fi
  rm -f $(WORKER_PID)
fi
endef

run: $(INSTALLED)
	@mkdir -p $(DATA)
	stop_worker() {
	$(stop_worker)
	}
	server=
	stop_all() {
	  # gunicorn's master stops its workers itself on TERM (gracefully, within 30 s).
	  if [ -n "$$server" ] && kill -0 "$$server" 2>/dev/null; then
	    kill -TERM "$$server" 2>/dev/null || true
	    wait "$$server" 2>/dev/null || true
	  fi
	  stop_worker
	}
	stop_worker  # one left by an earlier run that was killed hard
	if [ -z "$${DATABASE_URL:-}" ] && [ -z "$${REDIS_URL:-}" ]; then
	  echo "starting the embedded PostgreSQL and Redis (data under $(DATA)/)"
	  $(PYTHON) -m registry.embedded start
	fi
	$(PYTHON) manage.py migrate --no-input
	# Static files for DEBUG=false (whitenoise serves them from STATIC_ROOT then).
	$(PYTHON) manage.py collectstatic --no-input -v0
	$(PYTHON) manage.py seed_demo | tee $(DATA)/seed_demo.log
	trap stop_all EXIT
	trap 'exit 0' INT  # Ctrl-C is the normal way to stop the server
	trap 'exit 143' TERM
	$(VENV)/bin/celery -A registry worker -B -l info >$(WORKER_LOG) 2>&1 &
	echo $$! >$(WORKER_PID)
	workers=$${WEB_CONCURRENCY:-$$($(PYTHON) -c 'import os; print(2 * (os.cpu_count() or 1) + 1)')}
	echo
	echo "Celery worker with beat: pid $$(cat $(WORKER_PID)), log in $(WORKER_LOG)"
	echo "Registry: http://$(ADDRESS)/admin/ (admin), http://$(ADDRESS)/api/docs/ (API) and"
	echo "http://$(ADDRESS)/health/ (health), served by gunicorn with $$workers workers"
	grep -m1 'admin login' $(DATA)/seed_demo.log || true
	echo "Ctrl-C stops the server and the worker; 'make stop' stops the embedded servers."
	echo
	# In the background and waited for, so that Ctrl-C or a TERM to make reaches the traps
	# above at once; the EXIT trap stops the server and the worker however this ends.
	# WEB_CONCURRENCY sets the number of workers (default 2 x cores + 1); access log on stdout.
	# No control socket: its default path (~/.gunicorn/) would be shared by every checkout.
	# Each sync worker keeps its database connection (CONN_MAX_AGE) instead of opening one per
	# request: median REST transfer latency 42-46 ms instead of 68-72 ms (docs/performance.md).
	CONN_MAX_AGE=$${CONN_MAX_AGE:-600} $(VENV)/bin/gunicorn registry.wsgi --bind $(ADDRESS) --workers "$$workers" \
	  --access-logfile - --error-logfile - --no-control-socket &
	server=$$!
	wait "$$server"

test: $(INSTALLED)
	@bash .ci/system-packages
	echo "+ $(PYTHON) -m pytest $(PYTEST_ARGS)"
	$(PYTHON) -m pytest $(PYTEST_ARGS)

bench: $(INSTALLED)
	@echo "+ $(PYTHON) bench/run.py $(BENCH_ARGS)"
	$(PYTHON) bench/run.py $(BENCH_ARGS)

stop:
	@$(stop_worker)
	if [ -x $(PYTHON) ]; then
	  $(PYTHON) -m registry.embedded stop
	else
	  echo "no $(VENV): no embedded servers to stop"
	fi

lint: $(INSTALLED)
	@status=0
	echo "+ ruff format --check ."
	$(VENV)/bin/ruff format --check . || status=1
	echo "+ ruff check ."
	$(VENV)/bin/ruff check . || status=1
	exit $$status
