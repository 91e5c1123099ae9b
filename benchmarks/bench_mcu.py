"""Instruction budgets of the firmware's hot paths on an emulated 32-bit MCU core.

Runs the real firmware, frozen into MicroPython's qemu port (``MPS2_AN500``, Cortex-M7,
viper/native code as Thumb-2), under ``qemu-system-arm -icount shift=0``: every guest
instruction advances the virtual clock by exactly 1 ns, so ``time.ticks_us()`` in the
guest counts thousands of instructions, deterministically (same figures every run, on
any host, under any load). Measured per unit of work:

* ``sample``: one 8-channel conversion into the capture ring (24-bit unpack + commit)
  and through the filters (4th-order high-pass, notch, 2nd harmonic), blocks of 32;
* ``window_features``: one feature window (MAV, WL, ZC, SSC, RMS x 8 ch; 200 ms / 50 ms
  at 2 kHz: the 100 samples of an increment pushed, the window's features out);
  ``window_features_7`` with M2 and M4 too, ``window_features_ar`` with AR1..AR4 as well
  (lag products per sample, Levinson-Durbin per window), ``window_features_cr`` the seven
  with CR1..CR3 instead (cross products per sample, the correlations per window);
* ``window_<kind>``: the int8 decoder on one feature row, per golden model kind;
* ``pulse_burst``: the stimulation engine's tick that fires a 4-channel burst;
* ``frame_rx``: one received command frame (COBS + CRC + dispatch, a ping and its ACK);
* ``loop_worst`` / ``loop_mean``: the worst and the mean device-loop pass over 2 s of
  8 ch x 2 kHz streaming with the default 1 ms tick (AFE read, ring, filters, telemetry
  framing). The AFE there is the real driver on the register-level chip model, whose
  SPI byte exchange runs as Python (a hardware SPI peripheral on a board);
  ``afe_read_on_model`` (per conversion) is the qemu board's conversion timer interrupt:
  the chip model's conversion and the DRDY capture into the ring.

Each is converted to time at each reference board's clock with a stated
instructions-per-cycle assumption (:data:`IPC`) and held against the budget: a sample's
work must fit 0.5 ms (one conversion period at 2 kHz) with 2x headroom, and the worst
loop pass must fit the capture ring's depth (the conversions the DRDY capture holds
while the loop is busy) with 2x headroom.

Usage: ``python benchmarks/bench_mcu.py [--json]`` (``--json``: one object).
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

from garment.contracts import load_contract
from garment.qemu.build import DEFAULT_BOARD, QEMU_BOARDS, build
from garment.qemu.machine import QemuMachine

REPO = Path(__file__).resolve().parents[1]
#: The firmware's own budget table (clocks, IPC, headroom, the counts it checks with).
BUDGET = load_contract("budget")
#: Reference boards: CPU clock. Instructions are the Cortex-M7 build's (Thumb-2).
BOARD_CLOCKS_HZ = dict(BUDGET.CPU_HZ)
#: Instructions per cycle assumed on every board: 1.0. Conservative for the dual-issue
#: Cortex-M7 the counts come from; about right for the ESP32-S3's LX7 and the RP2350's
#: M33 running from cache; optimistic for the RP2040's M0+ (Thumb-1 needs more
#: instructions than Thumb-2 for the same viper code, and XIP flash adds wait states):
#: read its column as a lower bound.
IPC = BUDGET.IPC_PERCENT / 100
FS_HZ = 2000
SAMPLE_PERIOD_US = 1e6 / FS_HZ
#: Conversions held in front of the loop while a pass is busy, on the board that holds
#: fewest: the RP2 boards' DMA ring (boards/rp2_capture.py; the device's ring behind
#: every capture holds 1024).
CAPTURE_RING_DEPTH = 256
HEADROOM = float(BUDGET.HEADROOM)
#: Every count garmentfw/budget.py refuses configurations with -> the row that measures it.
PINS = {
    "INSTR_CAPTURE_8CH": "capture",
    "INSTR_DEVICE_SAMPLE_8CH": "device_sample",
    "INSTR_FEATURES_8CH": "features_sample",
    "INSTR_FEATURES_M24_8CH": "features_m24_sample",
    "INSTR_FEATURES_AR_8CH": "features_ar_sample",
    "INSTR_FEATURES_CR_8CH": "features_cr_sample",
    "INSTR_BLOCK": "device_block",
    "INSTR_PASS": "pass_core",
    "INSTR_SERVICE_TICK": "stim_service_tick_armed",
    "INSTR_AFE_MODEL": "afe_read_on_model",
    "INSTR_AFE_POLL_MODEL": "afe_poll_idle_on_model",
    "INSTR_DECODE": "window_mlp",
}
#: The live checks of --live: (fs, channels, conversions) on the qemu garment.
LIVE_RUNS = ((1000, 8, 3000), (250, 8, 1000))

#: The guest's clock (RT_US, RT_DIFF). The port's ticks_us reads its ms counter and
#: SysTick's down-counter one after the other: a reading just after SysTick reloads,
#: before its interrupt is taken, is 1 ms behind (under -icount that can recur at the same
#: point of a loop, every pass). Two readings that agree to within 200 us, in order, are
#: past it.
CLOCK = """
import time as _rt
_US = _rt.ticks_us
RT_DIFF = _rt.ticks_diff
def RT_US():
    a = _US()
    b = _US()
    while RT_DIFF(b, a) < 0 or RT_DIFF(b, a) > 200:
        a = b
        b = _US()
    return b
"""

GUEST = r"""
import os, sys, gc
%(clock)sos.chdir(%(here)r)
sys.path[:] = ['.frozen', '']
import vclock
from array import array

def instr(t0):
    return RT_DIFF(RT_US(), t0) * 1000   # -icount shift=0: 1 us = 1000 instructions

# The spans of pure computation (samples, features, decoders, the motor-unit stage) start
# just after gc.collect(): a collection that fell inside one (the heap filled by the
# script's set-up) was counted as the path's, e.g. +46 %% per tap in the motor-unit stage's
# 128-tap run, and where it fell moved with any change to the script. The device's spans
# are left as they are: a collection there takes guest time, which their clocks see.

def out(name, total, units):
    print("RESULT %%s %%d %%d" %% (name, total, units))

# ---- sample: unpack into the ring + filters ---------------------------------------
from garmentfw.drivers.ads1299 import unpack
from garmentfw.ring import SampleRing
from garmentfw.dsp import FilterBank
ring = SampleRing(256, 8)
fb = FilterBank(8, 2000, 50)
blk = array('i', bytes(4 * 32 * 8))
frames = []
for k in range(32):
    f = bytearray(27)
    f[0] = 0xC0
    for i in range(3, 27):
        f[i] = (k * 37 + i * 11) & 0xFF
    frames.append(f)
def samples(n):
    i = 0
    while i < n:
        j = 0
        while j < 32:
            unpack(frames[j], ring.buf, ring.slot_offset(), 8)
            ring.commit(i + j)
            j += 1
        got = ring.take(blk, 32)
        fb.process(blk, got)
        i += 32
samples(64)
gc.collect()  # no collection inside the span
t0 = RT_US(); samples(2048); out("sample", instr(t0), 2048)
# the capture's share alone: a conversion unpacked into the ring and committed
gc.collect()  # no collection inside the span
t0 = RT_US()
for i in range(64):
    j = 0
    while j < 32:
        unpack(frames[j], ring.buf, ring.slot_offset(), 8)
        ring.commit(i * 32 + j)
        j += 1
    ring.take(blk, 32)
out("capture", instr(t0), 2048)

# ---- features per window ---------------------------------------------------------
from garmentfw.features import FeatureExtractor
fx = FeatureExtractor(8, 400, 100)
src = array('i', [((i * 7919) %% 2001 - 1000) * 300 for i in range(50 * 8)])
for _ in range(16):
    fx.push(src, 50)
gc.collect()  # no collection inside the span
t0 = RT_US()
w = 0
for _ in range(80):   # blocks of 50 (the device's block is smaller than MAX_BLOCK)
    w += fx.push(src, 50)
out("window_features", instr(t0), w)
# the same window with more of the spec's features: + M2, M4; + AR1..AR4 as well; or + CR1..CR3
for tag, feats in (("7", ("MAV", "WL", "ZC", "SSC", "RMS", "M2", "M4")),
                   ("ar", ("MAV", "WL", "ZC", "SSC", "RMS", "M2", "M4", "AR1", "AR2", "AR3", "AR4")),
                   ("cr", ("MAV", "WL", "ZC", "SSC", "RMS", "M2", "M4", "CR1", "CR2", "CR3"))):
    del fx
    gc.collect()
    fx = FeatureExtractor(8, 400, 100, features=feats)
    for _ in range(16):
        fx.push(src, 50)
    gc.collect()  # no collection inside the span
    t0 = RT_US()
    w = 0
    for _ in range(80):
        w += fx.push(src, 50)
    out("window_features_" + tag, instr(t0), w)
del fx
gc.collect()

# ---- decoder per model kind ------------------------------------------------------
from garmentfw.int8net import Int8Net
for kind in ("lda", "mlp", "ridge"):
    with open("../../../models/golden/int8_%%s.gmdl" %% kind, "rb") as f:
        raw = f.read()
    net = Int8Net.load(raw, None, None)
    row = array('i', [(i * 2654435761) & 0xFFFF for i in range(net.n_in)])
    for _ in range(4):
        net.run(row)
    gc.collect()  # no collection inside the span
    t0 = RT_US()
    for _ in range(200):
        net.run(row)
    out("window_" + kind, instr(t0), 200)
    del net, raw

# ---- pulse burst -----------------------------------------------------------------
import stim_testlib as S
exec(open("test_stim_engine.py").read().split("def _run(")[0])
eng, sup, drv, rec = _engine()
for ch in range(4):
    eng.set_target(ch, 8000, S.ticks_us())
for _ in range(400):   # ramp to target first (slew-limited)
    S.advance_us(500)
    eng.tick(S.ticks_us())
burst = 0
bursts = 0
idle = 0
idles = 0
for _ in range(2000):
    S.advance_us(500)
    c = drv.count
    t0 = RT_US()
    eng.tick(S.ticks_us())
    n = instr(t0)
    if drv.count > c:
        burst += n
        bursts += 1
    else:
        idle += n
        idles += 1
out("pulse_burst", burst, bursts)
out("pulse_idle_tick", idle, idles)
del eng, sup, drv, rec

# ---- received frame + device loop ------------------------------------------------
from fakeboard import Board, Link
from garmentfw import wire
from garmentfw.device import Device
from garmentfw.framing import Framer
b = Board(link=Link(capture=False))
d = Device(b)
fr = Framer()
pkt = fr.packet()
pkt[3] = 1
pkt[4] = pkt[5] = pkt[6] = 0
n = fr.encode(pkt, wire.T_PING, 4)
ping = bytes(fr.out[:n])
if ping[-1] != 0:
    ping += b"\x00"  # the frame delimiter
for _ in range(5):
    d.step()
for _ in range(10):
    b.link.inbox.extend(ping)
    d.step()
base = 0
t0 = RT_US()
for _ in range(200):
    d.step()
base = instr(t0)
t0 = RT_US()
for _ in range(200):
    b.link.inbox.extend(ping)
    d.step()
out("frame_rx", instr(t0) - base, 200)

d.streaming = True
d.streamer.start(d.n_ch, d.kind)
nv = array('i', [((i * 7919) %% 2001 - 1000) * 50 for i in range(8 * 2)])
worst = 0
tot = 0
for k in range(4000):
    b.chip.feed(nv, 2)
    vclock.advance_us(1000)
    t0 = RT_US()
    d.step()
    n = instr(t0)
    if k >= 100:
        tot += n
        if n > worst:
            worst = n
out("loop_worst", worst, 1)
out("loop_mean", tot, 3900)
# The qemu board's AFE: each conversion completes in its conversion timer's interrupt,
# whose handler runs the chip model's conversion and the DRDY capture into the ring
# through the real driver (boards/qemu.py: TimerDrdyCapture, chip.tick), the work a real
# board's chip and SPI peripheral do; called here as the interrupt calls it (the timer
# stopped), and the capture's poll in a pass (nothing to move: the interrupt did it).
d.streaming = False
import afeclock
from garmentfw.boards.qemu import TimerDrdyCapture
cap = TimerDrdyCapture(b.chip, b.afe.drv)
cap.attach(d.ring)
cap.configure(2000, 8)
d.ring.reset(8)
cap.poll(d.ring)   # its first poll starts the timer: stopped again, the handler called here
afeclock.stop()
Z = 0
for _ in range(200):   # an empty span: what the two readings cost, off each span below
    t0 = RT_US()
    Z += instr(t0)
Z //= 200
tot = 0
for k in range(800):
    b.chip.feed(nv, 1)
    t0 = RT_US()
    b.chip.tick(1)
    tot += instr(t0) - Z
    d.ring.take(d.block, 64)
out("afe_read_on_model", tot, 800)
tot = 0
for _ in range(500):
    t0 = RT_US()
    cap.poll(d.ring)
    tot += instr(t0) - Z
out("afe_poll_idle_on_model", tot, 500)
del d, b, cap
gc.collect()

# ---- the whole device's pass (app.make_device: services, raw stages, decode stage) --
# What the live loop runs besides the AFE read, at 8 ch x 1 kHz streaming 24-bit
# filtered samples (the wired default), stimulation disarmed: the pipeline per sample
# and per block (the cost of a pass that holds a block, whatever its size), an empty
# pass (nothing received, nothing converted, the services' periodic work already done
# in this ms) and the stimulation service's periodic work (once a ms).
from garmentfw.app import make_device
b = Board(n_stim=4, link=Link(capture=False))
d = make_device(b)
d._apply_config(1000, 8, 50, wire.STREAM_FILTERED, 1, 1)
d.streaming = True
d.streamer.start(d.n_ch, d.kind)
for _ in range(20):
    vclock.advance_us(1000)
    d.step()
rg = d.ring
rg.reset(8)
nxt = 0
ZERO = 0
for _ in range(200):   # an empty span: what the two readings cost, off each span below
    t0 = RT_US()
    ZERO += instr(t0)
ZERO //= 200
def blocks(k, reps):
    global nxt
    tot = 0
    for _ in range(reps):
        for j in range(k):
            unpack(frames[j], rg.buf, rg.slot_offset(), 8)
            rg.commit(nxt)
            nxt = (nxt + 1) & wire.COUNTER_MASK
        t0 = RT_US()
        d.process_available()
        tot += instr(t0) - ZERO
        d.txq.drain(d._link_write)
    return tot
gc.collect()
blocks(1, 50)
out("device_block_1", blocks(1, 1000), 1000)   # blocks of one sample
out("device_block_32", blocks(32, 64), 64)     # blocks of 32
for _ in range(5):
    d.step()
tot = 0
for _ in range(500):
    t0 = RT_US()
    d.step()               # the same ms: nothing received, converted or due
    tot += instr(t0) - ZERO
out("pass_empty", tot, 500)
tot = 0
for _ in range(500):
    t0 = RT_US()
    b.afe.poll(d.ring)     # its share: the unit-test board's AFE poll (its chip model's clock)
    tot += instr(t0) - ZERO
out("afe_poll_idle_sim", tot, 500)
st = d.services[2]
def service_tick(pre, reps):
    # every call a periodic tick: the clock moves a whole period between calls
    tot = 0
    for k in range(reps):
        pre(k)
        vclock.advance_us(%(period_us)d)
        t0 = RT_US()
        st.tick(vclock.ticks_ms())
        tot += instr(t0) - ZERO
    return tot
out("stim_service_tick", service_tick(lambda k: None, 500), 500)
d.streaming = False
del d, b, st
gc.collect()
# armed (the checks a disarmed garment skips: heartbeat, session, EMG, battery), no
# channel stimulating; the host pings every 100 ms, the AFE converts
b, d, st, h = S.armed_device()
def armed_pre(k):
    if k %% %(pings_every)d == 0:
        h.ping()
        d.step()
    b.afe.poll(d.ring)
    d.process_available()
    h.collect()
out("stim_service_tick_armed", service_tick(armed_pre, 500), 500)
assert st.sup.armed()
print("DONE")
"""


# The on-garment motor-unit stage (garmentfw/mu_stage.py) per filtered sample: a few
# configurations from which mu_spec's per-tap, per-unit, per-channel and per-sample
# counts follow (mu_costs); the stage's packets go to a counter, as to the link's queue.
MU_GUEST = r"""
import struct
from garmentfw import mu_spec, wire
from garmentfw.mu_stage import MotorUnitStage
class _MuBoard:
    NAME = "bench"  # no clock: the stage's own budget check is not what is measured
class _MuDev:
    def __init__(self, n_ch):
        self.max_ch = self.n_ch = n_ch
        self.fs = 2048
        self.streaming = False
        self.kind = wire.STREAM_MU
        self.board = _MuBoard()
        self.sent = 0
    def send_packet(self, pkt, ptype, n):
        self.sent += 1
    def reply(self, *a):
        pass
    def error(self, ref, code, msg):
        raise ValueError(msg)
    def event(self, *a):
        pass
def mu_run(tag, n_ch, n_units, n_sub, delays):
    d = _MuDev(n_ch)
    st = MotorUnitStage(d)
    st.configure(n_ch, 2048, None)
    pkt = bytearray(wire.MAX_PACKET)
    for u in range(n_units):
        hdr = struct.pack(mu_spec.UNIT_HDR_FMT, u, 2048, n_ch, n_sub, delays, 0, 2, 40, 3000)
        w = bytes(((i * 97) & 0x7F) if i & 1 == 0 else 0 for i in range(2 * n_sub * delays))
        body = hdr + bytes(range(n_sub)) + w
        pkt[3:3 + len(body)] = body
        st._unit(u, pkt, len(body))
    d.streaming = True
    blk = array('i', [((i * 7919) %% 2001 - 1000) * 40 for i in range(20 * n_ch)])
    st.on_filtered(blk, 20, 0)
    gc.collect()  # no collection inside the span
    t0 = RT_US()
    i = 1
    while i < 103:
        st.on_filtered(blk, 20, 20 * i)
        i += 1
    out("mu_" + tag, instr(t0), 2040)
    del st, d
    gc.collect()
mu_run("1u_1tap_8ch", 8, 1, 1, 1)
mu_run("1u_128tap_8ch", 8, 1, 8, 16)
mu_run("4u_1tap_8ch", 8, 4, 1, 1)
mu_run("1u_1tap_64ch", 64, 1, 1, 1)
"""
GUEST = GUEST.replace('print("DONE")', MU_GUEST + 'print("DONE")')


def mu_costs(instr: dict[str, float]) -> dict[str, float]:
    """mu_spec's counts from the stage's runs: per tap, per unit, per channel, per sample."""
    a, b, c, d = (instr["mu_" + k] for k in ("1u_1tap_8ch", "1u_128tap_8ch", "4u_1tap_8ch", "1u_1tap_64ch"))
    tap = (b - a) / 127
    unit = (c - a - 3 * tap) / 3
    ch = (d - a) / 56
    return {"mu_tap": tap, "mu_unit": unit, "mu_channel": ch, "mu_sample": a - tap - unit - 8 * ch}


def measure(board: str = DEFAULT_BOARD) -> dict[str, float]:
    """Instructions per unit of each hot path on ``board`` (deterministic under -icount)."""
    here = "/" + (REPO / "tests" / "firmware" / "mp").relative_to(REPO).as_posix()
    with QemuMachine(board, icount=True, elf=build(board)) as m:
        m.mount_host(REPO, tmp_kb=256)
        out = m.check(GUEST % {"here": here, "clock": CLOCK, "period_us": 1000 * BUDGET.PERIOD_MS,
                                   "pings_every": 100 // BUDGET.PERIOD_MS}, timeout=1800)
    if "DONE" not in out:
        raise RuntimeError(f"the benchmark did not finish:\n{out[-3000:]}")
    res = {}
    for name, total, units in re.findall(r"^RESULT (\w+) (-?\d+) (\d+)", out, re.M):
        res[name] = int(total) / max(1, int(units))
    # The whole device's pipeline per sample and per block, from blocks of 1 and of 32;
    # a pass's own cost without the AFE read on the chip model (a real board's capture
    # ring is a few loads).
    res["device_sample"] = (res["device_block_32"] - res["device_block_1"]) / 31
    res["device_block"] = res["device_block_1"] - res["device_sample"]
    res["pass_core"] = res["pass_empty"] - res["afe_poll_idle_sim"]
    # the features' share per 8-channel sample (a window per 100 new samples)
    res["features_sample"] = res["window_features"] / 100
    res["features_m24_sample"] = (res["window_features_7"] - res["window_features"]) / 100
    res["features_ar_sample"] = (res["window_features_ar"] - res["window_features_7"]) / 100
    res["features_cr_sample"] = (res["window_features_cr"] - res["window_features_7"]) / 100
    return res


LIVE_GUEST = r"""
import gc
try:
    from afeclock import busy_us  # the conversion timer's handler: the core's time in it
except ImportError:
    def busy_us():
        return 0
from garmentfw.boards.qemu import Board
from garmentfw.app import make_device
from garmentfw import wire
%(clock)s
now = RT_US
DF = RT_DIFF
b = Board()
d = make_device(b)
d._apply_config(%(fs)d, %(n_ch)d, d.mains, wire.STREAM_FILTERED, 1, 1)
d.streaming = True
d.streamer.start(d.n_ch, d.kind)
st = d.services[2]
for _ in range(300):
    if not d.step():
        b.idle(2)
gc.collect()
c0 = b.afe.count
k0 = st.ticks
t_start = now()
idle = 0
irq_idle = 0
passes = 0
blocks = 0
pa = d.process_available
def counting():
    global blocks
    n = pa()
    if n:
        blocks += 1
    return n
d.process_available = counting
while b.afe.count - c0 < %(n)d:
    passes += 1
    if not d.step():
        i0 = busy_us()
        t0 = now()
        b.idle(2)
        idle += DF(now(), t0)
        irq_idle += busy_us() - i0  # the capture's interrupts while the core slept: busy
tot = DF(now(), t_start)
d.streaming = False
print("LIVE %%d %%d %%d %%d %%d %%d %%d" %% (tot, idle - irq_idle, b.afe.count - c0, passes, blocks, st.ticks - k0, b.afe.overruns))
"""


def live(fs: int, n_ch: int, n: int, shift: int = 2) -> dict[str, float]:
    """The qemu garment's own loop (app.make_device on the qemu board, streaming, stimulation
    disarmed) under ``-icount shift``: its busy instructions per second of signal (guest
    time outside ``board.idle``, plus the conversion timer's interrupts taken while idle), passes,
    blocks and periodic ticks."""
    pat = re.compile(rb"LIVE (\d+) (\d+) (\d+) (\d+) (\d+) (\d+) (\d+)\r?\n")
    with QemuMachine(DEFAULT_BOARD, icount=True, shift=shift, elf=build(DEFAULT_BOARD)) as m:
        # The firmware's telemetry shares the UART with the REPL (the board's link), so
        # the raw REPL cannot frame the output: read the UART up to the result line.
        m.transport.exec_raw_no_follow(LIVE_GUEST % {"fs": fs, "n_ch": n_ch, "n": n, "clock": CLOCK})
        ser = m.transport.serial
        buf = bytearray()
        t_end = time.monotonic() + 900
        got = None
        while got is None:
            if time.monotonic() > t_end:
                raise RuntimeError(f"the live loop did not finish: {bytes(buf[-500:])!r}")
            buf += ser.read(max(1, ser.in_waiting))
            got = pat.search(buf, max(0, len(buf) - 4096))
    tot, idle, count, passes, blocks, ticks, overruns = map(int, got.groups())
    sig_s = count / fs
    ns = 1 << shift
    return {"fs": fs, "n_ch": n_ch, "samples": count, "signal_s": round(sig_s, 3),
            "busy_fraction": round((tot - idle) / tot, 3),
            "busy_instr_per_s": (tot - idle) * 1000 / ns / sig_s,
            "passes_per_s": passes / sig_s, "blocks_per_s": blocks / sig_s,
            "periodic_per_s": ticks / sig_s, "overruns": overruns}


def live_prediction(instr: dict[str, float], run: dict[str, float]) -> dict[str, float]:
    """What the measured rows say the live loop costs with its own counts of passes,
    blocks and periodic ticks (disarmed: the live loop's stimulation service), beside
    what garmentfw/budget.py predicts (its block count, armed, a decoder)."""
    fs, n_ch = run["fs"], run["n_ch"]
    per_sample = (instr["device_sample"] + instr["window_features"] / 100) * n_ch / 8 + instr["afe_read_on_model"]
    per_pass = instr["pass_core"] + instr["afe_poll_idle_on_model"]
    terms = fs * per_sample + run["blocks_per_s"] * instr["device_block"] + run["passes_per_s"] * per_pass \
        + run["periodic_per_s"] * instr["stim_service_tick"]
    pred = BUDGET.instructions_per_s(int(fs), int(n_ch), None, "qemu")
    # the same, disarmed and without a decoder, as the live loop runs
    bare = pred - BUDGET.PERIODIC_PER_S * (instr["stim_service_tick_armed"] - instr["stim_service_tick"]) \
        - BUDGET.WINDOWS_PER_S * BUDGET.INSTR_DECODE
    busy = run["busy_instr_per_s"]
    return {"terms_with_live_counts": round(terms), "ratio_terms_to_live": round(terms / busy, 3),
            "budget_py": pred, "ratio_budget_to_live": round(pred / busy, 3),
            "budget_py_disarmed_no_decoder": round(bare), "ratio_budget_disarmed_to_live": round(bare / busy, 3)}


def budget(instr: dict[str, float]) -> dict[str, dict[str, object]]:
    """Time per unit at each board's clock and whether each budget fits with 2x headroom."""
    boards = {}
    for name, hz in BOARD_CLOCKS_HZ.items():
        us = {k: v / (hz * IPC) * 1e6 for k, v in instr.items()}
        # One second of 8 ch x 2 kHz: every sample, 20 windows (features + the largest
        # model) and 30 bursts a second (the default trains).
        dec = max(us.get(k, 0.0) for k in ("window_lda", "window_mlp", "window_ridge"))
        per_s = FS_HZ * us["sample"] + 20 * (us["window_features"] + dec) + 30 * us["pulse_burst"]
        # the same with every feature of the spec (AR1..AR4 included)
        per_s_ar = per_s + 20 * (us.get("window_features_ar", us["window_features"]) - us["window_features"])
        ring_us = CAPTURE_RING_DEPTH * SAMPLE_PERIOD_US
        boards[name] = {
            "clock_mhz": hz / 1e6,
            "us": {k: round(v, 2) for k, v in us.items()},
            "cpu_load_8ch_2khz": round(per_s / 1e6, 4),
            "sample_fits": us["sample"] * HEADROOM <= SAMPLE_PERIOD_US,
            "loop_fits_ring": us["loop_worst"] * HEADROOM <= ring_us,
            "load_fits": per_s * HEADROOM <= 1e6,
            "cpu_load_8ch_2khz_all_features": round(per_s_ar / 1e6, 4),
            "load_fits_all_features": per_s_ar * HEADROOM <= 1e6,
        }
    return boards


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--board", default=DEFAULT_BOARD, choices=sorted(QEMU_BOARDS))
    ap.add_argument("--live", action="store_true",
                    help="also run the qemu garment's own loop (-icount shift=2) and hold the prediction against it")
    a = ap.parse_args(argv)
    instr = measure(a.board)
    instr.update(mu_costs(instr))
    result = {
        "core": f"{a.board} ({QEMU_BOARDS[a.board].cpu}), qemu -icount shift=0",
        "instructions": {k: round(v) for k, v in instr.items()},
        "ipc_assumed": IPC,
        "budget_us": {"sample": SAMPLE_PERIOD_US, "capture_ring": CAPTURE_RING_DEPTH * SAMPLE_PERIOD_US},
        "headroom": HEADROOM,
        "boards": budget(instr),
    }
    # The counts the firmware refuses configurations with (garmentfw/budget.py).
    pinned = {row: getattr(BUDGET, name) for name, row in PINS.items()}
    mu = load_contract("mu_spec")
    pinned.update({"mu_tap": mu.INSTR_TAP, "mu_unit": mu.INSTR_UNIT, "mu_channel": mu.INSTR_CHANNEL,
                   "mu_sample": mu.INSTR_SAMPLE})
    if a.live:
        result["live"] = []
        for fs, n_ch, n in LIVE_RUNS:
            run = live(fs, n_ch, n)
            run.update(live_prediction(instr, run))
            result["live"].append(run)
    result["firmware_budget_table"] = {
        k: {"pinned": v, "measured": round(instr[k]), "within_3pct": abs(instr[k] - v) <= 0.03 * v}
        for k, v in pinned.items()}
    if a.json:
        print(json.dumps(result))
        return 0
    print(f"core: {result['core']}; instructions per unit; time at IPC {IPC} (budget: sample "
          f"{SAMPLE_PERIOD_US:.0f} us, loop pass {CAPTURE_RING_DEPTH * SAMPLE_PERIOD_US / 1000:.0f} ms = ring of "
          f"{CAPTURE_RING_DEPTH}, each with {HEADROOM:.0f}x headroom)")
    names = list(instr)
    print(f"{'path':18s} {'instr':>10s}" + "".join(f" {b + ' us':>14s}" for b in BOARD_CLOCKS_HZ))
    for k in names:
        print(f"{k:18s} {instr[k]:10.0f}" + "".join(f" {result['boards'][b]['us'][k]:14.2f}" for b in BOARD_CLOCKS_HZ))
    for b, r in result["boards"].items():
        print(f"{b}: the hot paths alone (no per-block or per-ms work of the loop: garmentfw/budget.py counts it) "
              f"of 8 ch x 2 kHz with decode and 30 Hz bursts {r['cpu_load_8ch_2khz'] * 100:.1f} %; "
              f"sample fits: {r['sample_fits']}, worst loop pass fits the ring: {r['loop_fits_ring']}, "
              f"load fits: {r['load_fits']}; with every feature (AR too) {r['cpu_load_8ch_2khz_all_features'] * 100:.1f} %, "
              f"fits: {r['load_fits_all_features']}")
    for r in result.get("live", []):
        print(f"live qemu garment {r['n_ch']} ch x {r['fs']} Hz: busy {r['busy_fraction'] * 100:.0f} % = "
              f"{r['busy_instr_per_s'] / 1e6:.0f} M instr/s; {r['passes_per_s']:.0f} passes/s, {r['blocks_per_s']:.0f} "
              f"blocks/s; the rows with these counts {r['terms_with_live_counts'] / 1e6:.0f} M "
              f"(x{r['ratio_terms_to_live']}); garmentfw/budget.py (armed, a decoder, {BUDGET.BLOCKS_PER_S} blocks/s "
              f"at most) {r['budget_py'] / 1e6:.0f} M (x{r['ratio_budget_to_live']}), disarmed and without a decoder "
              f"as the live loop runs {r['budget_py_disarmed_no_decoder'] / 1e6:.0f} M (x{r['ratio_budget_disarmed_to_live']})")
    for k, v in result["firmware_budget_table"].items():
        src = "garmentfw/mu_spec.py" if k.startswith("mu_") else "garmentfw/budget.py"
        print(f"{src} {k}: pinned {v['pinned']}, measured {v['measured']}"
              + ("" if v["within_3pct"] else f"  <- update {src}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
