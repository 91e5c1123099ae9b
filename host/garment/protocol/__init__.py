"""The framed wire protocol on the host side (codec and message payloads)."""
from garment.protocol.codec import Deframer, Packet, cobs_decode, cobs_encode, crc16, encode_packet
from garment.protocol.wire import wire

__all__ = ["Deframer", "Packet", "cobs_decode", "cobs_encode", "crc16", "encode_packet", "wire"]
