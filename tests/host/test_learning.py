"""Reward-modulated STDP of the pattern generator's crank synapses (host side)."""
from __future__ import annotations

import numpy as np
import pytest

from garment.rider.cpg_reference import default_weights
from garment.rider.learning import Episode, Learner, reward, ride_episode


def test_reward_is_work_per_charge_at_the_target_cadence() -> None:
    base = {"charge_mc": 1.5, "stim_power_w": 10.0, "duration_s": 10.0, "cadence_error_rpm": 0.0}
    assert reward(base) == pytest.approx(100.0 / 2.0)
    assert reward(dict(base, cadence_error_rpm=10.0)) == pytest.approx(25.0)
    assert reward(dict(base, stim_power_w=-5.0)) < 0  # stimulation that brakes is punished
    assert reward(dict(base, charge_mc=0.0, stim_power_w=0.0)) == 0.0


def test_rewarded_eligibility_moves_the_timing_not_all_weights() -> None:
    lr = Learner(bins=4, eta=100.0)
    e = np.zeros((4, 2))
    e[0, 0] = 2.0  # side A fired while bin 0's afferents were active
    lr.update(Episode(1.0, e, {}))  # the first episode sets the baseline: no change
    assert np.all(lr.weights == 0)
    lr.update(Episode(3.0, e, {}))  # better than expected: potentiate bin 0 -> A
    assert lr.weights[0, 0] > 0 and np.all(lr.weights[1:, 0] < 0) and np.all(lr.weights[:, 1] == 0)
    before = lr.weights.copy()
    lr.update(Episode(-5.0, e, {}))  # worse than expected: the reverse
    assert lr.weights[0, 0] < before[0, 0]
    with pytest.raises(ValueError, match="bundles"):
        Learner(bins=17)


def test_an_entrained_oscillator_earns_more_than_an_inverted_one() -> None:
    w = np.array(default_weights(8))
    good = ride_episode(w, seconds=2.0)
    bad = ride_episode(-w, seconds=2.0)
    assert good.eligibility.shape == (8, 2) and good.summary["charge_mc"] > 0
    assert good.reward > bad.reward
