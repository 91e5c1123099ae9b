# Pulse telemetry: every delivered pulse goes to the host in R_PULSES packets of up to
# PULSES_PER_PACKET, sent when full or when the oldest has waited FLUSH_US (and at once
# before a state change, so the host sees the pulses before the transition).
from micropython import const

from garmentfw import budget, wire
from garmentfw.framing import Framer

PULSES_PER_PACKET = const(20)
FLUSH_US = const(20000)
# The service checks at most every budget.PERIOD_MS: a packet is due that much earlier,
# so the oldest pulse still leaves within FLUSH_US.
_DUE_US = FLUSH_US - budget.PERIOD_MS * 1000


class PulseReport:
    def __init__(self, engine, send_packet):
        """``send_packet(pkt, ptype, body_len)``: the device's outgoing queue."""
        self.engine = engine
        self._send = send_packet
        self._pkt = Framer.packet()

    def flush(self, now_us, force: bool) -> bool:
        """Send what is due (everything if ``force``); True if anything was sent."""
        e = self.engine
        k = e.pending()
        if not k:
            return False
        if k < PULSES_PER_PACKET and not force and e.oldest_age_us(now_us) < _DUE_US:
            return False
        pkt = self._pkt
        while e.pending():
            n = e.take_into(pkt, 4, PULSES_PER_PACKET)
            pkt[3] = n
            self._send(pkt, wire.R_PULSES, 1 + n * wire.PULSE_LEN)
        return True
