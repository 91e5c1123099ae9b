# PIO programs of the RP2 boards (RP2040 and RP2350 run the same PIO v0 instructions):
# biphasic stimulation pulses timed by a state machine (the AFE's capture is
# boards/rp2_capture.py). Compile-only here (no RP2 hardware in CI): type-checked against the rp2 stubs
# and built by mpy-cross; the timing below is by the PIO instruction set, not measured.
#
# Pulses: one state machine per channel drives the channel's H-bridge (A = phase 1,
# cathodic; B = phase 2, anodic) by side-set at 1 MHz (1 us per cycle). The CPU queues
# (settle, gap, width) in the TX FIFO and returns: the loop never waits for a pulse.
# Phase 2 reuses phase 1's count from the OSR, so the two phases are equal by
# construction (charge-balanced). IRQ rel(0) fires at the end of phase 1 (the electrode
# reading), IRQ flag 4 + sm at the end of the pulse.
import rp2
from micropython import const
from rp2 import PIO, StateMachine

PIO_HZ = const(1_000_000)  # pulse state machines: 1 cycle = 1 us
# Cycles the pulse program spends outside the counted loops (pull, mov, irq): each loop
# count is the wanted microseconds minus these, so phases are exact to the cycle. A
# phase is its `mov(x, osr)` (1 cycle, side-set already high) plus the loop, which runs
# x + 1 times (jmp x_dec falls through at 0): width = count + 2 (run on the fake rp2,
# tests/firmware/mp/fake_rp2.py; with 1 here every phase was 1 us long).
PHASE_OVERHEAD = const(2)
GAP_OVERHEAD = const(2)
# Cycles from the put() of the settle word to phase 1's first cycle beyond the settle
# count (pull, mov, the loop's extra pass, the gap's pull and mov, the width's pull):
# the queued count is the wanted lead-in minus these, so phase 1 starts exactly
# settle_us after the put (measured on the fake rp2: it was settle + 6 us).
LEAD_OVERHEAD = const(6)
MIN_PHASE_US = const(4)


@rp2.asm_pio(sideset_init=[PIO.OUT_LOW, PIO.OUT_LOW])
def biphasic_pulse():
    wrap_target()  # noqa: F821
    pull(block).side(0)  # noqa: F821 - settle: amplitude reference settles, outputs open
    mov(y, osr).side(0)  # noqa: F821
    label("settle")  # noqa: F821
    jmp(y_dec, "settle").side(0)  # noqa: F821
    pull(block).side(0)  # noqa: F821 - interphase gap
    mov(y, osr).side(0)  # noqa: F821
    pull(block).side(0)  # noqa: F821 - phase width (stays in OSR for both phases)
    mov(x, osr).side(1)  # noqa: F821 - A high: phase 1 starts
    label("p1")  # noqa: F821
    jmp(x_dec, "p1").side(1)  # noqa: F821
    irq(rel(0)).side(0)  # noqa: F821 - phase 1 over: read the electrode
    label("gap")  # noqa: F821
    jmp(y_dec, "gap").side(0)  # noqa: F821
    mov(x, osr).side(2)  # noqa: F821 - B high: phase 2, the same count as phase 1
    label("p2")  # noqa: F821
    jmp(x_dec, "p2").side(2)  # noqa: F821
    irq(rel(4)).side(0)  # noqa: F821 - pulse over
    wrap()  # noqa: F821


# Delivered phases: one state machine per phase sense line (the OR of every channel's A,
# resp. B output after its H-bridge: a board requirement) counts the line's high time,
# 2 cycles per count at TIMER_HZ (1 count = 1 us), and pushes it when the line falls:
# the CPU reads both counts after the pulse and compares them with the programmed width.
TIMER_HZ = const(2_000_000)


@rp2.asm_pio()
def phase_timer():
    wrap_target()  # noqa: F821
    mov(x, invert(null))  # noqa: F821
    wait(1, pin, 0)  # noqa: F821 - the sense line rises: a phase starts
    label("high")  # noqa: F821
    jmp(x_dec, "next")  # noqa: F821
    label("next")  # noqa: F821
    jmp(pin, "high")  # noqa: F821 - still high (jmp_pin = the sense line): 2 cycles per count
    mov(isr, invert(x))  # noqa: F821 - counts = high time in us
    push(noblock)  # noqa: F821
    wrap()  # noqa: F821


class PioPhaseTimer:
    """The high time of each phase on one sense line, in us, from a state machine."""

    def __init__(self, sm_id: int, sense_pin):
        self.sm = StateMachine(sm_id, phase_timer, freq=TIMER_HZ, in_base=sense_pin, jmp_pin=sense_pin)
        self.sm.active(1)

    def ready(self) -> int:
        return self.sm.rx_fifo()

    def take(self) -> int:
        """The oldest measured phase, us (counts < 2**30: small ints, no allocation)."""
        return self.sm.get(None, 0) & 0x3FFFFFFF

    def clear(self) -> None:
        sm = self.sm
        while sm.rx_fifo():
            sm.get()


class PioPulser:
    """One channel's biphasic pulses, timed by a PIO state machine on its H-bridge pins."""

    def __init__(self, sm_id: int, pin_a, on_phase1=None, on_done=None):
        # pin_a and the next GPIO are side-set pins: bit 0 = A (phase 1), bit 1 = B.
        self.sm = StateMachine(sm_id, biphasic_pulse, freq=PIO_HZ, sideset_base=pin_a)
        if on_phase1 is not None:
            self.sm.irq(on_phase1, hard=True)
        self.on_done = on_done
        self.sm.active(1)

    def busy(self) -> bool:
        """A queued pulse has not started yet (its words are still in the TX FIFO)."""
        return self.sm.tx_fifo() > 0

    def queue(self, settle_us: int, width_us: int, interphase_us: int) -> bool:
        """Queue one pulse whose phase 1 starts settle_us after this call (its lead-in: the
        amplitude settling plus any start delay); False (nothing queued) while the
        previous one is pending or the times are too short to time."""
        if (width_us < MIN_PHASE_US or interphase_us < GAP_OVERHEAD + 1 or settle_us < LEAD_OVERHEAD
                or self.busy()):
            return False
        sm = self.sm
        sm.put(settle_us - LEAD_OVERHEAD)
        sm.put(interphase_us - GAP_OVERHEAD)
        sm.put(width_us - PHASE_OVERHEAD)
        return True

    def stop(self) -> None:
        """Abort now: restart the program with both pins low (phase open), and drop the
        words of a pulse not started yet (restart() keeps the TX FIFO: the restarted
        program ran the queued pulse, a stop that did not stop)."""
        sm = self.sm
        sm.active(0)
        sm.restart()
        while sm.tx_fifo():
            sm.exec("pull(noblock) .side(0)")
        sm.exec("nop() .side(0)")
        sm.active(1)
