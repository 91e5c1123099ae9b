# The board contracts (HAL), for the type checker only: MicroPython has no `typing`, so
# firmware modules import these under `if TYPE_CHECKING:` and mypy checks every board,
# link, AFE source and stimulator driver against them (tests/firmware/test_typecheck.py).
# Nothing imports this file at run time.
from typing import Protocol

from garmentfw.ring import SampleRing
from garmentfw.store import Store


class Link(Protocol):
    """The host link: framed bytes both ways (USB CDC, BLE NUS, the sim's socket)."""

    @property
    def wired(self) -> bool:
        """A cable (provisioning of secrets is allowed only over one); BLE: False."""
    def readinto(self, buf: bytearray) -> int:
        """Bytes received into ``buf`` (0: none); never blocks."""
    def write(self, buf: bytes | bytearray | memoryview, off: int, n: int) -> int:
        """Queue ``buf[off:off + n]``; returns how many were taken (0: full or no host)."""
    def connected(self) -> bool: ...
    def dropped_client(self) -> bool:
        """True once after the host went away (the device then stops telemetry)."""


class AfeSource(Protocol):
    """The EMG front end: conversions, counted by the AFE's own clock, into the ring."""

    overruns: int  # conversions lost (ring full, or read too late), modulo 2**30
    lead_off: int  # per-channel lead-off bits of the latest conversion
    count: int  # conversions moved into the ring since configure(), modulo 2**30
    max_channels: int  # EMG channels the AFE has (8; a daisy chain of n chips: 8 n)
    chips: int  # ADS1299s in the chain (1: one chip); channel counts are multiples of it
    fs_allowed: tuple[int, ...]  # the rates this board offers (wire.ALLOWED_FS, wire.HD_FS)

    def configure(self, fs: int, n_ch: int) -> None: ...
    def attach(self, ring: SampleRing) -> None:
        """The ring a DRDY-driven capture fills from its interrupt (garmentfw/capture.py)."""
    def poll(self, ring: SampleRing) -> int:
        """The loop's turn: move what the AFE holds into ``ring`` (a polled or DMA
        source), or nothing (the DRDY edges did it); returns how many."""
    def lsb_fv(self) -> int:
        """One code in femtovolts at the input (with the configured gain)."""


class Stimulator(Protocol):
    """The stimulator driver: biphasic, charge-balanced pulses only (safety behaviour 5)."""

    n_channels: int
    min_width_us: int  # the shortest phase the output stage delivers and measures

    def enable(self) -> None:
        """Output-enable on (when armed)."""
    def all_off(self) -> None:
        """Every channel off and output-enable low, now."""
    def off(self, ch: int) -> None: ...
    def pulse(self, ch: int, amplitude_ua: int, width_us: int, interphase_us: int, delay_us: int = 0) -> bool:
        """One biphasic pulse (cathodic first, equal opposite phase); True if delivered.
        Its lead-in starts ``delay_us`` (0 .. MAX_SLOT_US + settle) after the call, timed
        by the pulse peripheral (the call returns at once); off()/all_off() cancel it
        while it has not started."""
    def load_mv(self, ch: int) -> int:
        """Electrode voltage at the end of the last pulse's first phase, mV (-1: no reading)."""
    def load_ua(self, ch: int) -> int:
        """Current through the sense resistor at that instant, uA (-1: no reading)."""
    def estop_pressed(self) -> bool:
        """The E-stop contact opened since the last call (latched until read; the
        hardware interlock already cut the output)."""
    def estop_active(self) -> bool:
        """The E-stop contact is open now: pressed and held, or its wire broken
        (normally closed: a broken wire reads as pressed)."""


class Board(Protocol):
    # Read-only members: a board may hold a more specific type (its own link class, a
    # montage of exactly its channels).
    @property
    def NAME(self) -> str: ...
    @property
    def AFE_NAME(self) -> str: ...
    @property
    def MONTAGE(self) -> tuple[str, ...]:
        """A label per EMG channel."""
    @property
    def afe(self) -> AfeSource: ...
    @property
    def link(self) -> Link: ...
    @property
    def store(self) -> Store | None: ...
    @property
    def stim(self) -> Stimulator | None:
        """None: a board without a stimulator."""

    def uid(self) -> str: ...
    def battery_mv(self) -> int: ...
    def service(self) -> None:
        """Per-pass housekeeping (the sim's rig port, buttons)."""
    def idle(self, ms: int) -> None:
        """Nothing to do: wait up to ``ms`` for the link or the AFE."""
    def safe_state(self) -> None:
        """Outputs off whatever the software state (after an exception)."""
    def reinit(self) -> None: ...
