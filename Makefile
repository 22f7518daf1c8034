# Two commands a learner needs: `make lab` and `make test`. Everything installs into .venv
# from the package registries, with the pins in pyproject.toml.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NPM_STAMP := django_project/node_modules/.installed
# Jupyter looks for kernels in the venv before ~/.local, so `python3` is always this venv's.
export JUPYTER_PREFER_ENV_PATH := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: venv lab test test-postgres lint gallery bench clean help

help:
	@echo "make lab    - set up .venv (if needed) and open JupyterLab on notebooks/"
	@echo "make test   - set up .venv (if needed) and run every test (library, notebooks)"
	@echo "make test-postgres - the Django tests again on DATABASE_URL=postgres://... (.ci/run sets it)"
	@echo "make gallery - migrate, train missing models, serve the gallery on 127.0.0.1:8000 (+ worker)"
	@echo "make venv   - only create/update .venv"
	@echo "make clean  - remove .venv and caches (keeps data/ and your checkpoints)"

venv: $(STAMP) $(NPM_STAMP)

# Bootstrap for the web gallery, from the npm registry with the pinned lockfile (no CDN).
$(NPM_STAMP): django_project/package.json django_project/package-lock.json
	cd django_project && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# Rebuilt only when pyproject.toml changes; otherwise the existing .venv is reused.
$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is needed, found " + sys.version.split()[0]'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -e ".[test]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (generative models course)"
	@touch $@

# Jupyter refuses to run as root unless told; a container or a fresh cloud machine runs as root.
LAB_ARGS ?=
lab: venv
	$(BIN)/jupyter lab --notebook-dir=notebooks $$([ "$$(id -u)" = 0 ] && echo --allow-root) $(LAB_ARGS)

lint: venv
	$(BIN)/ruff check course_lib tests django_project bench
	$(BIN)/ruff format --check course_lib tests django_project bench

test: venv lint
	$(BIN)/python -m pytest tests django_project notebooks --nbval --nbval-cell-timeout=300 \
		--nbval-sanitize-with notebooks/nbval-sanitize.cfg --durations=25

# The web app's tests once more on PostgreSQL (not the library, notebooks or browser tests).
# GALLERY_DB is unset because it would win over DATABASE_URL (settings.py).
test-postgres: venv
	@case "$$DATABASE_URL" in \
		postgres://*|postgresql://*) ;; \
		"") echo "make test-postgres needs DATABASE_URL=postgres://USER:PASSWORD@HOST:PORT/NAME" \
			"(a role allowed to create the test database); .ci/run starts a server and sets it" >&2; \
			exit 2 ;; \
		*) echo "make test-postgres: DATABASE_URL must start with postgres:// or postgresql://" >&2; \
			exit 2 ;; \
	esac
	env -u GALLERY_DB $(BIN)/python -m pytest django_project

# Speed bars measured side by side, written to bench/REPORT.md (~6 min, 4 of them executing the
# notebooks). More options: make bench BENCH_ARGS="--skip-notebooks" or "--only http"; see --help.
bench: venv
	$(BIN)/python bench/run.py $(BENCH_ARGS)

gallery: venv
	cd django_project && ../$(BIN)/python manage.py migrate --noinput
	cd django_project && ../$(BIN)/python manage.py train_models
	@# The style studio's training runs in a background worker; it stops with the server.
	cd django_project && { ../$(BIN)/python manage.py db_worker --no-reload & worker=$$!; \
		trap 'kill $$worker 2>/dev/null; wait $$worker 2>/dev/null' EXIT; trap 'exit 130' INT TERM; \
		../$(BIN)/python manage.py runserver 127.0.0.1:8000; }

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info
