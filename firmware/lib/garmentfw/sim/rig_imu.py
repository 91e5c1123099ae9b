# The thigh IMU's side of the sim board's rig port: RIG_IMU feeds the IMU model's ideal
# motion (wire.py); every other rig message passes on unchanged.
# Hook (boards/sim.py): self.imu = FakeLSM6DSO(time.ticks_us); attach(self.rig, self.imu).
import struct

from garmentfw import wire


def attach(rig, imu) -> None:
    deframer = rig.deframer
    orig = deframer._on_packet

    def on_packet(ptype, seq, pkt, n):
        if ptype == wire.RIG_IMU:
            if n >= 1:
                count = pkt[3]
                if count <= wire.RIG_IMU_MAX and n == 1 + 12 * count:
                    if not imu.running:
                        imu.start()
                    for i in range(count):
                        r, fx, fz = struct.unpack_from(wire.RIG_IMU_SAMPLE_FMT, pkt, 4 + 12 * i)
                        if not imu.feed(r, fx, fz):
                            rig.errors += 1
                    return
            rig.errors += 1
            return
        orig(ptype, seq, pkt, n)

    deframer._on_packet = on_packet
