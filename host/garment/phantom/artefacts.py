"""Non-neural artefacts: electrode motion and electrical stimulation (artefact and M-wave).

Stimulation: a charge-balanced biphasic current pulse drives a large voltage at the stimulated
electrode (and attenuated at its neighbours); the amplifier sees it through its decimation
filter, followed by an exponential tail (electrode polarisation / amplifier recovery).  Above
motor threshold the pulse also recruits motor units synchronously, which produces an evoked
compound potential (M-wave) a few milliseconds later, growing with amplitude until all units are
recruited.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .afe import sinc3_smooth

#: Voltage at the stimulated electrode per mA of stimulation current (uV/mA, ~2.5 kOhm).
STIM_UV_PER_MA = 2500.0
#: Amplitude of the post-pulse exponential tail relative to the spike, for a 300 us pulse.
STIM_TAIL_FRACTION = 0.15
#: Time constant of the post-pulse tail (s).
STIM_TAIL_TAU_S = 0.003
#: Stimulation pulses older than this (s) when reported are ignored by a stream.
LATE_PULSE_S = 0.05


@dataclass(frozen=True)
class StimPulse:
    """One biphasic stimulation pulse.

    Attributes:
        t_s: time of the pulse's leading edge (s from the start of the signal).
        channel: stimulated electrode (= channel index of the muscle under it).
        amplitude_ma: current amplitude of each phase (mA).
        width_us: width of each phase (us).
    """

    t_s: float
    channel: int
    amplitude_ma: float
    width_us: float = 300.0


def pulse_train(
    channel: int,
    start_s: float,
    duration_s: float,
    rate_hz: float = 30.0,
    amplitude_ma: float = 20.0,
    width_us: float = 300.0,
) -> list[StimPulse]:
    """Regular pulse train on one channel (FES-style, 20..50 Hz)."""
    n = int(np.floor(duration_s * rate_hz + 1e-9))
    return [StimPulse(start_s + i / rate_hz, channel, amplitude_ma, width_us) for i in range(n)]


def motor_threshold_ma(width_us: float, rheobase_ma: float = 4.0, chronaxie_us: float = 300.0) -> float:
    """Motor threshold for a pulse width (Lapicque/Weiss strength-duration curve)."""
    return rheobase_ma * (1.0 + chronaxie_us / max(float(width_us), 1.0))


def recruited_fraction(amplitude_ma: float, width_us: float, saturation_ratio: float = 2.5) -> float:
    """Fraction of a muscle's motor units recruited by a pulse (0 below threshold, 1 at saturation)."""
    x = (amplitude_ma / motor_threshold_ma(width_us) - 1.0) / (saturation_ratio - 1.0)
    x = min(max(x, 0.0), 1.0)
    return x * x * (3.0 - 2.0 * x)  # smooth sigmoid recruitment curve


def stim_artefact(frac: float, fs: float, amplitude_ma: float, width_us: float) -> np.ndarray:
    """Artefact waveform (L,) in uV at the stimulated electrode, for a pulse ``frac`` samples
    after the first sample of the waveform (0 <= frac < 1).

    A biphasic rectangle (+A, then -A, each ``width_us``) and a decaying tail, seen through the
    AFE's sinc^3 decimation filter (evaluated on a 32x finer grid).
    """
    os = 32
    amp = STIM_UV_PER_MA * amplitude_ma
    w = width_us * 1e-6
    length = int(np.ceil((2 * w + 8 * STIM_TAIL_TAU_S) * fs)) + 4
    t = np.arange(length * os) / (os * fs) - frac / fs  # s after the pulse's leading edge
    wave = np.where((t >= 0) & (t < w), amp, 0.0) - np.where((t >= w) & (t < 2 * w), amp, 0.0)
    tail = amp * STIM_TAIL_FRACTION * (w / 300e-6)
    after = t >= 2 * w
    wave[after] += tail * np.exp(-(t[after] - 2 * w) / STIM_TAIL_TAU_S)
    return sinc3_smooth(wave, os)[::os]


#: Longest motion artefact time constant (s); events last 8 time constants.
MOTION_TAU_MAX_S = 0.06


def motion_events(
    rng: np.random.Generator, t0_s: float, t1_s: float, rate_hz: float, n_channels: int, amp_uV: float = 150.0
) -> np.ndarray:
    """Random electrode-motion events in ``[t0_s, t1_s)``: rows ``(onset_s, channel, amp_uV, tau_s)``.

    Poisson in time (``rate_hz`` per channel), log-uniform amplitudes around ``amp_uV``, random
    sign, time constants 15..60 ms (skin stretch and cable tug).
    """
    span = max(t1_s - t0_s, 0.0)
    k = int(rng.poisson(rate_hz * n_channels * span))
    onset = np.sort(rng.uniform(t0_s, t1_s, k))
    ch = rng.integers(0, n_channels, k)
    amp = amp_uV * np.exp(rng.uniform(np.log(0.3), np.log(3.0), k)) * rng.choice([-1.0, 1.0], k)
    tau = rng.uniform(0.015, MOTION_TAU_MAX_S, k)
    return np.column_stack([onset, ch, amp, tau]) if k else np.zeros((0, 4))


def motion_waveform(amp_uV: float, tau_s: float, frac: float, fs: float) -> np.ndarray:
    """One motion artefact: an alpha function peaking at ``amp_uV`` after ``tau_s`` (L,).

    ``frac`` is the onset's fraction of a sample after the first returned sample.
    """
    n = int(np.ceil(8 * tau_s * fs)) + 1
    t = np.clip((np.arange(n) - frac) / fs, 0.0, None) / tau_s
    return amp_uV * t * np.exp(1.0 - t)


def pedal_motion(crank_deg: np.ndarray, amp: np.ndarray, phase: np.ndarray) -> np.ndarray:
    """Artefact locked to the pedal cycle (garment sway, cable swing), (n, C).

    Args:
        crank_deg: (n, C) crank angle seen by each channel's leg.
        amp: (2, C) amplitudes of the first two harmonics of the cadence.
        phase: (2, C) their phases.
    """
    th = np.deg2rad(crank_deg)
    return amp[0] * np.cos(th + phase[0]) + amp[1] * np.cos(2 * th + phase[1])
