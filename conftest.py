"""Test-session settings shared by tests/ and hil_tests/."""
import os
import tempfile

# Garment secrets made by tests go to a throw-away folder, never the user's own store.
os.environ.setdefault("GARMENT_SECRETS_DIR", tempfile.mkdtemp(prefix="garment-test-secrets-"))


def pytest_addoption(parser):  # type: ignore[no-untyped-def]
    # Here rather than in hil_tests/conftest.py so that the option parses wherever it
    # stands on the command line.
    parser.addoption("--device", default="sim", help="sim | ble:sim | serial:PATH | socket://HOST:PORT | ble:ADDR")
