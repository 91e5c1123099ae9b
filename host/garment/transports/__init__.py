"""Byte transports to a garment: USB serial (and the simulated garment's socket) and BLE."""
from garment.transports.base import Transport, TransportClosed, TransportError
from garment.transports.serial import SerialTransport

__all__ = ["Transport", "TransportClosed", "TransportError", "SerialTransport"]
