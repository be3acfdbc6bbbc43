"""The Randman generator: shapes, one spike per unit, splits and seeding."""

import numpy as np

from randman import make_randman, spike_times


def test_shapes_split_and_one_spike_per_unit():
    train, val, test = make_randman(nb_samples=50, seed=1)
    assert (
        train.x.shape == (400, 100, 20)
        and val.x.shape == (50, 100, 20)
        and test.x.shape == (50, 100, 20)
    )
    assert train.x.dtype == np.float32 and train.y.dtype == np.int32
    assert np.all(train.x.sum(axis=1) == 1)
    assert set(np.unique(np.concatenate([train.y, val.y, test.y]))) == set(range(10))


def test_reproducible_with_seed_and_spikes_in_window():
    t1, y1 = spike_times(nb_samples=20, seed=5)
    t2, y2 = spike_times(nb_samples=20, seed=5)
    t3, _ = spike_times(nb_samples=20, seed=6)
    assert np.array_equal(t1, t2) and np.array_equal(y1, y2) and not np.array_equal(t1, t3)
    assert t1.min() >= 0 and t1.max() < 50  # step_frac = 0.5 of 100 steps
