"""Patch sampling, flips-only augmentation, validation split, early stopping, seeding."""

from __future__ import annotations

import numpy as np
import pytest


def _ramp(n: int = 20) -> np.ndarray:
    # Unique values with known steps: +n*n along z, +n along y, +1 along x.
    return np.arange(n**3, dtype=np.float32).reshape(n, n, n)


def test_augmentation_is_flips_only_all_eight_and_never_a_rotation():
    from tomoml.denoise.n2n import pair_batches

    n = 20
    v = _ramp(n)
    make = pair_batches(v, v + 0.5, (8, 8, 8))
    x, y, _ = make(np.random.default_rng(0), (slice(0, n),) * 3, 64, True)
    seen = set()
    for p in x[:, 0]:
        # A rotation would swap axes: the steps along each axis would change size.
        for axis, step in enumerate((n * n, n, 1)):
            assert set(np.unique(np.abs(np.diff(p, axis=axis)))) == {step}
        seen.add(tuple(np.sign(np.diff(p, axis=a).flat[0]) < 0 for a in range(3)))
    assert len(seen) == 8  # every combination of z, y, x flips occurs
    # The target is the other half at the same place with the same flips.
    assert np.allclose(np.abs(y - x), 0.5)


def test_validation_slab_is_disjoint_from_training_patches():
    from tomoml.denoise.training import random_corners, split_regions

    regions = split_regions((40, 64, 48), (16, 16, 16), 0.2)
    assert regions.axis == 1
    assert regions.train[1] == slice(0, 48) and regions.val[1] == slice(48, 64)
    corners = random_corners(np.random.default_rng(0), regions.train, (16, 16, 16), 500)
    assert corners[:, 1].max() + 16 <= 48  # no training patch reaches the validation slab
    assert corners.min() >= 0 and (corners + 16 <= np.array([40, 64, 48])).all()


def test_too_small_volume_trains_without_validation():
    from tomoml.denoise.training import split_regions

    assert split_regions((16, 24, 16), (16, 16, 16), 0.1).val is None


def test_patch_is_fitted_to_a_thin_volume():
    from tomoml.denoise.training import as_patch

    assert as_patch(32, (18, 100, 100), 4) == (16, 32, 32)


def test_same_seed_gives_identical_model_and_other_seed_differs(noisy_case):
    from tomoml.denoise import train_n2n

    _, even, odd = noisy_case
    kw = dict(epochs=1, steps_per_epoch=2, patch=16, batch=2, device="cpu", val_fraction=0)
    a = train_n2n(even, odd, seed=5, **kw).network.state_dict()
    b = train_n2n(even, odd, seed=5, **kw).network.state_dict()
    c = train_n2n(even, odd, seed=6, **kw).network.state_dict()
    assert all(np.array_equal(a[k].numpy(), b[k].numpy()) for k in a)
    assert not all(np.array_equal(a[k].numpy(), c[k].numpy()) for k in a)


def test_training_leaves_global_random_state_untouched(noisy_case):
    import torch

    from tomoml.denoise import train_n2v

    _, even, _ = noisy_case
    t_state = torch.random.get_rng_state().clone()
    np_state = np.random.get_state()[1].copy()  # noqa: NPY002 - checking the legacy global
    train_n2v(even, epochs=1, steps_per_epoch=1, patch=16, batch=1, seed=1, device="cpu",
              val_fraction=0)
    assert torch.equal(torch.random.get_rng_state(), t_state)
    assert np.array_equal(np.random.get_state()[1], np_state)  # noqa: NPY002


def test_early_stopping_keeps_best_epoch_when_validation_stops_improving(noisy_case):
    from tomoml.denoise import train_n2n

    _, even, odd = noisy_case
    # A learning rate too small to move the weights: no epoch improves on the first.
    m = train_n2n(even, odd, epochs=20, steps_per_epoch=1, patch=16, batch=1, lr=1e-12,
                  patience=2, seed=0, device="cpu", val_fraction=0.34)
    t = m.training
    assert t["stopped_early"] and t["epochs_run"] == 3 and t["best_epoch"] == 1


def test_noise2noise_counts_any_lower_validation_loss_as_progress(noisy_case):
    """Noise2Noise's loss is mostly the target half's noise: its progress is a small relative
    change, which a relative threshold would not count (and would stop training early)."""
    import torch

    from tomoml.denoise import train_n2n
    from tomoml.denoise.training import TrainSettings, fit, split_regions

    class SlowlyBetter(torch.nn.Module):
        """Validation loss 1 - 1e-6 k at the k-th validation batch: a few 1e-6 an epoch."""

        def __init__(self):
            super().__init__()
            self.p = torch.nn.Parameter(torch.zeros(()))
            self.register_buffer("k", torch.zeros(()))

        def forward(self, x):
            if torch.is_grad_enabled():
                return x * 0 + self.p
            self.k += 1
            return x * 0 + (1 - 1e-6 * self.k).sqrt()

    def batches(rng, region, n, augment):
        z = np.zeros((n, 1, 4, 4, 4), np.float32)
        return z, z, None

    regions = split_regions((8, 4, 4), (4, 4, 4), 0.5)
    for threshold, epochs_run in ((1e-4, 3), (0.0, 10)):
        settings = TrainSettings(epochs=10, steps_per_epoch=1, batch=1, patience=2,
                                 min_improvement=threshold)
        _, record = fit(SlowlyBetter(), batches, regions, settings, device="cpu", desc="t")
        assert record["epochs_run"] == epochs_run
    assert TrainSettings().min_improvement == 1e-4  # Noise2Void's default is unchanged

    _, even, odd = noisy_case
    m = train_n2n(even, odd, epochs=1, steps_per_epoch=1, patch=16, batch=1, device="cpu")
    assert m.training["settings"]["min_improvement"] == 0


def test_trained_weights_are_saved_in_the_default_layout(noisy_case, tmp_path, monkeypatch):
    """Training and inference on a CPU use channels-last tensors (faster convolutions); the
    model handed back and saved is in the default layout, and both layouts give one result."""
    import torch

    from tomoml.denoise import DenoiseModel, inference, predict, train_n2n

    _, even, odd = noisy_case
    m = train_n2n(even, odd, epochs=1, steps_per_epoch=2, patch=16, batch=2, device="cpu",
                  val_fraction=0)
    assert all(p.is_contiguous() for p in m.network.parameters())
    m.save(tmp_path / "m.pt")
    loaded = DenoiseModel.load(tmp_path / "m.pt")
    assert all(p.is_contiguous() for p in loaded.network.parameters())
    out = predict(m, even, device="cpu")
    monkeypatch.setattr(inference, "memory_format", lambda device: torch.contiguous_format)
    ref = predict(m, even, device="cpu")
    assert np.abs(out - ref).max() < 1e-4 * np.abs(ref).max()


def test_blind_spot_mask_replaces_one_voxel_per_cell_by_a_neighbour():
    from tomoml.denoise import blind_spot_mask

    v = _ramp(16)[None]
    masked, mask = blind_spot_mask(np.random.default_rng(0), v, cell=4, radius=2)
    assert mask.sum() == 16**3 / 64
    changed = masked != v
    assert np.array_equal(changed, mask.astype(bool))  # replaced values always differ (unique)
    # Each replacement comes from within the (5x5x5) neighbourhood: |dz|,|dy|,|dx| <= 2.
    src = masked[mask.astype(bool)].astype(int)
    dst = v[mask.astype(bool)].astype(int)
    d = np.stack([src // 256 - dst // 256, src // 16 % 16 - dst // 16 % 16,
                  src % 16 - dst % 16])
    assert np.abs(d).max() <= 2 and (np.abs(d).sum(axis=0) > 0).all()


def test_bad_settings_raise_config_errors(noisy_case):
    from tomoml.denoise import train_n2n
    from tomoml.errors import ConfigError, InputError

    _, even, odd = noisy_case
    with pytest.raises(ConfigError, match="batch"):
        train_n2n(even, odd, batch=0)
    with pytest.raises(ConfigError, match="patch"):
        train_n2n(even, odd, patch=(16, 16))
    with pytest.raises(InputError, match="same shape"):
        train_n2n(even, odd[:-1])


def test_no_autocast_on_the_cpu():
    import contextlib

    from tomoml.denoise.training import mixed_precision

    assert isinstance(mixed_precision(False), contextlib.nullcontext)


@pytest.mark.gpu
def test_cuda_training_uses_mixed_precision_and_matches_cpu_inference(noisy_case):
    import torch

    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU")
    from tomoml.denoise import predict, train_n2n

    _, even, odd = noisy_case
    m = train_n2n(even, odd, epochs=2, steps_per_epoch=5, patch=16, batch=4, seed=0,
                  device="cuda", val_fraction=0.34)
    assert m.training["mixed_precision"] is True and m.training["device"] == "cuda"
    gpu = predict(m, even=even, odd=odd, device="cuda")
    cpu = predict(m, even=even, odd=odd, device="cpu")
    assert np.abs(gpu - cpu).max() < 0.02 * cpu.std()  # float16 windows vs float32


def test_blind_spot_without_radius_takes_values_from_anywhere_in_the_patch():
    from tomoml.denoise import blind_spot_mask

    v = _ramp(16)[None]
    masked, mask = blind_spot_mask(np.random.default_rng(0), v, cell=2, radius=None)
    m = mask.astype(bool)
    assert mask.sum() == 16**3 / 8 and (masked[m] != v[m]).all()
    far = np.abs(masked[m].astype(int) // 256 - v[m].astype(int) // 256) > 2
    assert far.mean() > 0.5  # mostly not a neighbour: no correlated noise to copy
