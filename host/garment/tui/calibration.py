"""Calibration arithmetic and procedures, free of any interface (tested on their own):
electrode check, rest baseline, MVC, and the stimulation threshold ramp."""
from __future__ import annotations

import asyncio
from dataclasses import asdict, dataclass, field
from typing import Any, Awaitable, Callable

import numpy as np

from garment.client import Calibration

MUSCLES = {
    "RF": "rectus femoris", "VL": "vastus lateralis", "VM": "vastus medialis",
    "BF": "biceps femoris", "ST": "semitendinosus", "SM": "semimembranosus",
    "GM": "gluteus maximus", "TA": "tibialis anterior", "GL": "gastrocnemius lateralis",
    "GA": "gastrocnemius", "SO": "soleus",
}
SIDES = {"L": "left", "R": "right"}
NOISY_UV = 20.0  # rest RMS above this: check the electrode's contact


def muscle_name(channel_name: str) -> str:
    """``L_RF`` -> ``left rectus femoris`` (the name itself when unknown)."""
    side, _, code = channel_name.partition("_")
    if code and side in SIDES:
        return f"{SIDES[side]} {MUSCLES.get(code, code)}"
    return MUSCLES.get(channel_name, channel_name)


def moving_rms(x: np.ndarray, win: int) -> np.ndarray:
    """RMS over every ``win`` consecutive samples, per column: shape (n - win + 1, ch)."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    win = max(1, min(win, len(x)))
    if len(x) == 0:
        return np.zeros((0, x.shape[1]))
    c = np.cumsum(np.vstack([np.zeros((1, x.shape[1])), x**2]), axis=0)
    out: np.ndarray = np.sqrt(np.maximum(c[win:] - c[:-win], 0.0) / win)
    return out


@dataclass
class ChannelBaseline:
    rms_uV: float  # RMS over the whole rest period
    p95_uV: float  # 95th percentile of the 100 ms RMS (the rest "ceiling")


def rest_baseline(uV: np.ndarray, fs: int) -> list[ChannelBaseline]:
    """Per-channel rest levels from a rest recording (microvolts, shape (n, ch))."""
    x = np.asarray(uV, dtype=np.float64)
    if len(x) == 0:
        raise ValueError("no samples were recorded at rest")
    r = moving_rms(x, max(1, fs // 10))
    rms = np.sqrt(np.mean(x**2, axis=0))
    p95 = np.percentile(r, 95, axis=0)
    return [ChannelBaseline(float(a), float(b)) for a, b in zip(rms, p95)]


def mvc_level(uV: np.ndarray, fs: int, window_s: float = 0.25) -> float:
    """The maximum voluntary contraction level: the highest 250 ms RMS of one channel."""
    x = np.asarray(uV, dtype=np.float64).reshape(-1)
    if len(x) == 0:
        raise ValueError("no samples were recorded during the contraction")
    return float(moving_rms(x, max(1, int(fs * window_s))).max())


def electrode_verdict(lead_off: bool, rest_rms_uV: float | None) -> str:
    if lead_off:
        return "OFF: electrode not in contact"
    if rest_rms_uV is not None and rest_rms_uV > NOISY_UV:
        return "NOISY: check contact (or relax)"
    return "OK"


@dataclass
class StimSettings:
    """Pulse parameters and the ramp used to find a channel's thresholds."""

    width_us: int = 300
    freq_hz: int = 30
    area_mm2: int = 2500  # 5 cm x 5 cm electrode
    start_ua: int = 1000
    step_ua: int = 500
    ceiling_ua: int = 40000
    step_s: float = 1.0

    def check(self) -> None:
        for name in ("width_us", "freq_hz", "area_mm2", "start_ua", "step_ua", "ceiling_ua"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if self.start_ua > self.ceiling_ua:
            raise ValueError("the ramp starts above its ceiling")
        if self.step_s <= 0:
            raise ValueError("step_s must be positive")


@dataclass
class ChannelThresholds:
    sensory_ua: int | None = None
    motor_ua: int | None = None
    max_ua: int | None = None

    def calibration(self, channel: int, s: StimSettings) -> Calibration:
        """The garment's calibration record for this channel (needs both thresholds)."""
        if self.sensory_ua is None or self.motor_ua is None:
            raise ValueError(f"stimulation channel {channel}: sensory and motor thresholds are both needed")
        mx = self.max_ua if self.max_ua is not None else default_max(self.motor_ua, s.ceiling_ua)
        return Calibration(channel, int(self.sensory_ua), int(self.motor_ua), int(mx), s.area_mm2, s.width_us,
                           s.freq_hz)


def default_max(motor_ua: int, ceiling_ua: int) -> int:
    """Working maximum: 1.5 x the motor threshold, within the ramp's ceiling."""
    return int(min(ceiling_ua, round(motor_ua * 1.5)))


@dataclass
class RampResult:
    reason: str  # "motor" | "stopped" | "ceiling" | "estop" | "error"
    last_ua: int
    sensory_ua: int | None
    motor_ua: int | None


MAX_TEST_MS = 60000  # the firmware's longest T_STIM_TEST train


def train_ms(amplitude_ua: int, slew_ua_per_s: int, hold_s: float) -> int:
    """One test train: the firmware ramps it up from zero at the slew limit, then holds
    ``hold_s`` at the amplitude."""
    rise = -(-amplitude_ua * 1000 // max(1, slew_ua_per_s))  # ceil, ms
    return int(min(MAX_TEST_MS, rise + round(hold_s * 1000)))


class Ramp:
    """A slow amplitude ramp on one stimulation channel, stopped by the user.

    Every step sends one test train (``send(amplitude_ua, duration_ms)``, i.e.
    ``stim_test``); the firmware starts each train from zero and ramps it at its slew
    limit, so a step lasts ``train_ms(amplitude)`` and the next, stronger train follows
    when it ends. ``felt()`` records the sensory threshold and goes on;
    ``contraction()`` records the motor threshold and stops; ``stop()`` stops at once
    (the caller then disarms, which zeroes the output).
    """

    def __init__(self, settings: StimSettings, send: Callable[[int, int], Awaitable[Any]],
                 train_ms: Callable[[int], int] | None = None,
                 on_step: Callable[[int], None] | None = None) -> None:
        settings.check()
        self.s = settings
        self.send = send
        self.train_ms = train_ms or (lambda amp: int(round(settings.step_s * 1000)))
        self.on_step = on_step
        self.amplitude_ua = 0
        self.sensory_ua: int | None = None
        self.motor_ua: int | None = None
        self._stop = asyncio.Event()
        self.reason = ""

    def felt(self) -> None:
        if self.sensory_ua is None and self.amplitude_ua:
            self.sensory_ua = self.amplitude_ua

    def contraction(self) -> None:
        if self.amplitude_ua:
            self.motor_ua = self.amplitude_ua
            if self.sensory_ua is None:
                self.sensory_ua = self.amplitude_ua
            self.reason = "motor"
            self._stop.set()

    def stop(self, reason: str = "stopped") -> None:
        if not self.reason:
            self.reason = reason
        self._stop.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    async def run(self) -> RampResult:
        s = self.s
        amp = s.start_ua
        while not self._stop.is_set():
            if amp > s.ceiling_ua:
                self.stop("ceiling")
                break
            duration_ms = self.train_ms(amp)
            self.amplitude_ua = amp
            await self.send(amp, duration_ms)
            if self.on_step is not None:
                self.on_step(amp)
            try:
                await asyncio.wait_for(self._stop.wait(), duration_ms / 1000.0)
            except asyncio.TimeoutError:
                pass
            amp += s.step_ua
        return RampResult(self.reason or "stopped", self.amplitude_ua, self.sensory_ua, self.motor_ua)


@dataclass
class CalibrationResults:
    """Everything a calibration session found; saved to the user's profile."""

    channel_names: list[str]
    lead_off_mask: int = 0
    baseline: list[ChannelBaseline] | None = None
    mvc_uV: dict[int, float] = field(default_factory=dict)
    thresholds: dict[int, ChannelThresholds] = field(default_factory=dict)
    stim: StimSettings = field(default_factory=StimSettings)

    def profile(self, garment_uid: str, firmware: str) -> dict[str, Any]:
        names = self.channel_names
        return {
            "garment": {"uid": garment_uid, "firmware": firmware},
            "emg": {
                "channels": names,
                "lead_off_mask": self.lead_off_mask,
                "rest_rms_uV": [round(b.rms_uV, 3) for b in self.baseline] if self.baseline else None,
                "rest_p95_uV": [round(b.p95_uV, 3) for b in self.baseline] if self.baseline else None,
                "mvc_uV": {names[ch] if ch < len(names) else str(ch): round(v, 3) for ch, v in sorted(self.mvc_uV.items())},
            },
            "stimulation": {
                "settings": asdict(self.stim),
                "channels": {str(ch): asdict(t) for ch, t in sorted(self.thresholds.items())},
            },
        }

    def calibrations(self) -> list[Calibration]:
        """Garment calibration records for every channel whose thresholds are complete."""
        out = []
        for ch, t in sorted(self.thresholds.items()):
            if t.sensory_ua is not None and t.motor_ua is not None:
                out.append(t.calibration(ch, self.stim))
        return out
