"""Test-session settings shared by tests/ and hil_tests/."""
import os
import tempfile

# Garment secrets made by tests go to a throw-away folder, never the user's own store.
os.environ.setdefault("GARMENT_SECRETS_DIR", tempfile.mkdtemp(prefix="garment-test-secrets-"))
