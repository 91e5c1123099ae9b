# The stimulator's side of the sim board's rig port (boards/sim_rig.py), without
# editing RigPort: attach(rig, stim) makes
# - every delivered pulse go to the rig as RIG_PULSE (rig <- sim: t_us u32, afe_index
#   u32 (first AFE conversion the pulse affects), ch u8, amplitude_ua u32, width_us u16);
# - RIG_IMPEDANCE (rig -> sim: ch u8, ohms u32) set a channel's electrode impedance;
# - RIG_BATTERY (rig -> sim: battery_mv u16) set the simulated battery (stim.battery_mv);
# - RIG_LOAD (rig -> sim: ch u8, series ohm, interface ohm, interface nF; all 0: nominal)
#   set the electrode-skin load of the current-source model;
# - RIG_SKIN (rig -> sim: kind u8, channel mask u8, per mille u16) a skin event
#   (sim/electrode_skin.py: sweat response, breakdown, contact area);
# - RIG_ESTOP (rig -> sim: empty = pressed, or u8 level: wire.ESTOP_*) the E-stop button's
#   level (held, released, wire broken);
#   every other rig message still goes to RigPort._on_packet.
# RIG_BATTERY / RIG_ESTOP are defined once, in wire.py.
# Hook (boards/sim.py, Board.__init__, after the rig port and the stimulator exist):
#     self.stim = SimStimulator(self.chip, n_channels=4)
#     attach(self.rig, self.stim)
# and Board.battery_mv() -> self.stim.battery_mv, Board.safe_state() -> self.stim.all_off().
import struct

from garmentfw import wire
from garmentfw.sim.current_source import NOMINAL_CP_NF, NOMINAL_RP_OHM, NOMINAL_RS_OHM
from garmentfw.framing import Framer

RIG_PULSE_LEN = 15  # struct.calcsize(wire.RIG_PULSE_FMT)
RIG_IMPEDANCE_LEN = 5
RIG_BATTERY = wire.RIG_BATTERY
RIG_ESTOP = wire.RIG_ESTOP


class _PulseSender:
    """send(t_us, afe_index, ch, amplitude_ua, width_us): one RIG_PULSE to the rig's
    client, if one is connected. Allocation-free; a failed write is counted, not fatal
    (the rig's own read path notices a dead client)."""

    def __init__(self, rig):
        self.rig = rig
        self.pkt = Framer.packet()
        self.sent = 0
        self.errors = 0

    def __call__(self, t_us: int, afe_index: int, ch: int, amplitude_ua: int, width_us: int) -> None:
        rig = self.rig
        c = rig.client
        if c is None:
            return
        struct.pack_into(wire.RIG_PULSE_FMT, self.pkt, 3, t_us, afe_index, ch, amplitude_ua, width_us)
        m = rig.framer.encode(self.pkt, wire.RIG_PULSE, RIG_PULSE_LEN)
        try:
            c.write(rig.framer.out, 0, m)
            self.sent += 1
        except OSError:
            self.errors += 1


def attach(rig, stim) -> None:
    """Connect a SimStimulator to a RigPort (see the module comment)."""
    stim.rig = rig
    stim.rig_send = _PulseSender(rig)
    deframer = rig.deframer
    orig = deframer._on_packet

    def on_packet(ptype, seq, pkt, n):
        if ptype == wire.RIG_IMPEDANCE:
            if n == RIG_IMPEDANCE_LEN:
                ch, ohms = struct.unpack_from(wire.RIG_IMPEDANCE_FMT, pkt, 3)
                if ch < stim.n_channels:
                    stim.set_impedance(ch, ohms if ohms < 0x3FFFFFFF else 0x3FFFFFFF)
                    return
            rig.errors += 1
            return
        if ptype == wire.RIG_SKIN:
            if n == 4:
                kind, mask, value = struct.unpack_from(wire.RIG_SKIN_FMT, pkt, 3)
                try:
                    stim.skin.event(kind, mask, value)
                    return
                except ValueError:
                    pass
            rig.errors += 1
            return
        if ptype == RIG_BATTERY:
            if n == 2:
                stim.battery_mv = pkt[3] | (pkt[4] << 8)
            else:
                rig.errors += 1
            return
        if ptype == wire.RIG_LOAD:
            if n == 13:
                ch, rs, rp, cp = struct.unpack_from(wire.RIG_LOAD_FMT, pkt, 3)
                if ch < stim.n_channels:
                    if rs == 0 and rp == 0 and cp == 0:
                        stim.set_load(ch, NOMINAL_RS_OHM, NOMINAL_RP_OHM, NOMINAL_CP_NF)
                    else:
                        stim.set_load(ch, min(rs, 0x3FFFFFFF), min(rp, 0x3FFFFFFF), min(cp, 0x3FFFFFFF))
                    return
            rig.errors += 1
            return
        if ptype == RIG_ESTOP:
            if n == 0:
                stim.set_button(wire.ESTOP_PRESSED)
            elif n == 1 and pkt[3] <= wire.ESTOP_BROKEN:
                stim.set_button(pkt[3])
            else:
                rig.errors += 1
            return
        orig(ptype, seq, pkt, n)

    deframer._on_packet = on_packet
