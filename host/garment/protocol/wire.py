"""The wire protocol constants: ``firmware/lib/garmentfw/wire.py``, imported as is."""
from garment.contracts import load_contract

wire = load_contract("wire")
