"""Calibration arithmetic, free of any interface (tested on their own): electrode check,
rest baseline, MVC, and the thresholds the stimulation ramp found. The ramp itself (and
the arm/test/disarm sequence around it) is :mod:`garment.stimcontrol`'s."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from garment.stimcontrol import Ramp, RampResult, StimSettings, default_max, train_ms
from garment.stimulation import Calibration

__all__ = [  # the ramp's names stay importable from here for the screens
    "CalibrationResults", "ChannelBaseline", "ChannelThresholds", "Ramp", "RampResult", "StimSettings",
    "default_max", "electrode_verdict", "moving_rms", "muscle_name", "mvc_level", "rest_baseline", "train_ms",
]

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
