# The two commands of the README: `make run` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP_RUN := $(VENV)/.installed-run
STAMP_TEST := $(VENV)/.installed-test

.PHONY: run test lint bench messages clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP_RUN): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e .
	@touch $@

$(STAMP_TEST): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@ $(STAMP_RUN)

# Development mode unless DEBUG is set in the environment (the settings default to production, DEBUG
# off); rundev's children (emulator, web server, qcluster) inherit it. An exported DEBUG=off makes rundev refuse.
run: $(STAMP_RUN)
	DEBUG="$${DEBUG:-on}" $(PY) manage.py rundev

test: $(STAMP_TEST)
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP_TEST)
	$(VENV)/bin/ruff check .

bench: $(STAMP_TEST)
	$(PY) bench/push_overhead.py

# After changing a translatable string: extract, translate the new entries in
# profiles/locale/zh_Hans/LC_MESSAGES/django.po, then run this again to compile the .mo.
messages: $(STAMP_TEST)
	DEBUG=on $(PY) manage.py makemessages --locale zh_Hans --no-obsolete --no-location \
		--ignore '.venv/*' --ignore 'bench/*' --ignore 'tests/*' --ignore 'var/*' --ignore 'staticfiles/*' --ignore 'docs/*'
	DEBUG=on $(PY) manage.py compilemessages --locale zh_Hans --ignore '.venv/*'

clean:
	rm -rf $(VENV) var
