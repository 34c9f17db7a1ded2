# Set-up and everyday commands. `make demo` and `make test` are the README's two commands.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# torch/torchvision: pip takes the newest release allowed by the local pip config; on a
# cluster, install your CUDA build of torch first and it is kept (ranges, not pins).
STAMP  := $(VENV)/.installed

.PHONY: install demo test clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Two processes on the CPU (gloo), synthetic paintings, a few epochs.
demo: install
	$(BIN)/torchrun --standalone --nproc_per_node=2 -m artgenre.train experiment=demo

test: install
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) outputs multirun .pytest_cache
