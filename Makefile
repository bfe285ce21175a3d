# The two commands a new user needs. Both set themselves up: a project-local .venv, the requirements, and this
# collection installed into a project-local collections path (./collections).
#   make demo   the main job: the protect playbook against the bundled local Azure (demo scenario)
#   make test   everything: sanity, unit and local-Azure tests, integration targets, molecule, ansible-lint
# Others: make bench (benchmarks that print figures), make mutation (mutation testing of the rules and the check-mode
# guards: score and surviving mutants, tests/mutation), make install (set-up only), make clean.

PYTHON ?= python3
VENV := $(CURDIR)/.venv
BIN := $(VENV)/bin
COLLECTIONS := $(CURDIR)/collections
export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS)
export PATH := $(BIN):$(PATH)

.PHONY: demo test bench mutation install clean

$(BIN)/.installed: requirements.txt tests/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt -r tests/requirements.txt
	touch $@

install: $(BIN)/.installed
	$(BIN)/ansible-galaxy collection install --force --collections-path $(COLLECTIONS) . >/dev/null
	@echo "azure_cvm.backup installed into $(COLLECTIONS)"

demo: install
	$(BIN)/python -m tests.demo

test: install
	bash tests/run_all.sh

bench: install
	$(BIN)/python -m bench

mutation: install
	$(BIN)/python -m tests.mutation.run full

clean:
	rm -rf $(VENV) $(COLLECTIONS)/ansible_collections .build tests/output .pytest_cache
