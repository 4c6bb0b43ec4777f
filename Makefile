# hcxai: `make run` sets up and runs the embedded default; `make test` sets up and tests.
PYTHON ?= python3.11
VENV := .venv
VENV_TF := .venv-tf
CONFIG ?= config/config.yaml
SNAKEMAKE := $(VENV)/bin/snakemake
PIP_FLAGS := --quiet --disable-pip-version-check

.PHONY: env run test dry-run lint clean weights

env: $(VENV)/.built $(VENV_TF)/.built

# A venv is rebuilt from scratch whenever its pinned list changes, so it always
# equals the list; otherwise `make env` is a no-op.
define build-venv
	rm -rf $(1)
	$(PYTHON) -m venv $(1)
	$(1)/bin/pip install $(PIP_FLAGS) -r $(2)
	$(1)/bin/pip install $(PIP_FLAGS) --no-deps -e .
	touch $(1)/.built
endef

$(VENV)/.built: envs/workflow.txt pyproject.toml
	$(call build-venv,$(VENV),envs/workflow.txt)

$(VENV_TF)/.built: envs/tensorflow.txt pyproject.toml
	$(call build-venv,$(VENV_TF),envs/tensorflow.txt)

run: env
	$(SNAKEMAKE) --configfile $(CONFIG) --cores all

# The ImageNet notop weights of both backbones into Keras' cache ($$KERAS_HOME/models,
# default ~/.keras/models), for `training.weights: imagenet`. Run it where there is
# internet (a cluster's login node); WEIGHTS_DIR=/shared/path puts them elsewhere.
weights: $(VENV)/.built
	$(VENV)/bin/python -m hcxai.models.weights $(if $(WEIGHTS_DIR),--dir $(WEIGHTS_DIR))

dry-run: env
	$(SNAKEMAKE) --configfile $(CONFIG) --cores all -n

lint: env
	$(VENV)/bin/ruff check src workflow/scripts tests benchmarks
	$(VENV)/bin/snakefmt --check Snakefile workflow/rules
	$(SNAKEMAKE) --lint --configfile $(CONFIG)

# pytest runs per environment: tests/tf needs TensorFlow (tests/tf/graph in its
# own process, since iNNvestigate switches TensorFlow to graph mode for good);
# the rest runs in the workflow env and drives the TensorFlow rules through Snakemake.
test: env
	$(VENV_TF)/bin/pytest tests/tf --ignore=tests/tf/graph
	$(VENV_TF)/bin/pytest tests/tf/graph
	$(VENV)/bin/pytest tests --ignore=tests/tf

clean:
	rm -rf results/* resources/* logs .snakemake
	touch results/.gitkeep resources/.gitkeep
