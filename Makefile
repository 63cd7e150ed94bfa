# llmschool: `make run` serves the site, `make test` runs the whole suite. Both set up
# everything first (virtual environment, database, translations, seed content).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.requirements-$(shell (cat requirements.txt; uname -m) | cksum | cut -d' ' -f1)
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: run test test-fast setup venv system-deps messages clean

run: setup
	@$(PY) scripts/run.py

# The suite's set-up queues no demo model run (the tests that want one ask for it).
test: export DEMO_MODEL_SEED = 0
test: setup system-deps
	$(PY) -m pytest

# Everything but the browser journeys and slow fault tests (for quick local loops).
test-fast: setup
	$(PY) -m pytest -m "not e2e and not slow" --no-cov -q

setup: venv
	@$(PY) manage.py migrate --no-input -v 0
	@$(PY) manage.py bootstrap

venv: $(STAMP)

$(STAMP): requirements.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || (echo "Python 3.11+ is required" && exit 1)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	@rm -f $(VENV)/.requirements-*
	@touch $@

# Chromium and a Japanese font for the browser tests (Debian/Ubuntu, as root); gettext for makemessages.
system-deps:
	@if ! command -v chromium >/dev/null 2>&1 || ! fc-list 2>/dev/null | grep -qi ipa; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "  installing chromium, fonts-ipafont-gothic and gettext with apt-get"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-ipafont-gothic gettext >/dev/null) \
	      || echo "  apt-get failed: browser tests will fail"; \
	  else \
	    echo "  please install chromium and fonts-ipafont-gothic (browser tests need them)"; \
	  fi; \
	fi

# After adding UI strings or editing locale/ja/LC_MESSAGES/django.po (with any PO editor):
# refresh the msgids from the sources and compile django.mo (needs gettext). Setup never
# compiles, so `make run` and `make test` leave the committed catalogue as it is.
MESSAGE_IGNORES := .venv/* var/* tests/* bench/* training/engine/* node_modules/* scripts/* test-artifacts/*
messages: venv
	$(PY) manage.py makemessages -l ja --no-obsolete --no-location $(foreach p,$(MESSAGE_IGNORES),--ignore '$(p)')
	$(PY) manage.py compilemessages --ignore '.venv'
	@$(PY) -m pytest -q --no-cov tests/foundation/test_i18n.py

clean:
	rm -rf var/ .pytest_cache htmlcov .coverage
