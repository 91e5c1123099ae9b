"""The ``garment`` subcommands, one module per area (device, data, firmware)."""
