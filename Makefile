# Set-up is part of every target: a fresh clone needs only Python 3.11 and make.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
STUBS := $(VENV)/stubs/.installed
STUB_VERSION := 1.29.0.post1

.PHONY: run test test-fast bench clean qemu-toolchain qemu

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

# The MicroPython stubs packages overwrite each other's modules, so each port gets its own folder.
$(STUBS): $(STAMP)
	for port in unix esp32 rp2; do \
	  $(BIN)/pip install -q --no-compile --upgrade --target $(VENV)/stubs/$$port micropython-$$port-stubs==$(STUB_VERSION) || exit 1; \
	done
	touch $@

# The firmware also runs on emulated MCU cores (MicroPython's qemu port, tests marked
# `mcu`): its cross compiler and emulator come from Debian when missing.
qemu-toolchain:
	@missing=""; \
	command -v arm-none-eabi-gcc >/dev/null || missing="$$missing gcc-arm-none-eabi libnewlib-arm-none-eabi"; \
	command -v qemu-system-arm >/dev/null || missing="$$missing qemu-system-arm"; \
	if [ -n "$$missing" ]; then \
	  echo "installing$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

# The qemu port with the firmware frozen in (cached under build/qemu, rebuilt when the
# source or a frozen module changes; a fresh clone builds it once, -j2).
qemu: $(STAMP) qemu-toolchain
	$(BIN)/python -m garment.qemu.build MPS2_AN500

run: $(STAMP)
	$(BIN)/garment

# The HIL link, upload and safety tests run a second time over BLE (bleak over bumble's
# real ATT/GATT stack, only the radio simulated).
BLE_HIL := hil_tests/test_link.py hil_tests/test_safety_01_zero_until_ready.py hil_tests/test_bad_input.py hil_tests/test_model_upload.py \
	hil_tests/test_safety_02_heartbeat.py hil_tests/test_safety_03_estop.py \
	hil_tests/test_safety_04_limits.py hil_tests/test_safety_07_electrode.py \
	hil_tests/test_safety_12_auth.py

test: $(STAMP) $(STUBS) qemu
	$(BIN)/python -m pytest -q -ra
	$(BIN)/python -m pytest -q -ra --device ble:sim -m "not slow" $(BLE_HIL)

bench: $(STAMP)
	for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache build/qemu
