"""Fine-tuning the default model with sparse labels, and training-input checks."""

from __future__ import annotations

import numpy as np
import pytest

from tomoml.errors import InputError
from tomoml.segment import segment, train_segmenter
from tomoml.segment.training import _split_validation, dice_per_class


def _inclusions_tomogram(seed: int, shape=(40, 40, 40)):
    """A porous matrix holding dense inclusions; the class of interest (1) is the inclusions."""
    from scipy import ndimage as ndi

    import tomoml.synthetic as syn
    from tomoml.reconstruct import reconstruct

    rng = np.random.default_rng(seed)
    field = ndi.gaussian_filter(rng.standard_normal(shape), 3)
    matrix = field > np.quantile(field, 0.4)
    zz, yy, xx = np.indices(shape)
    inc = np.zeros(shape, bool)
    for c in rng.uniform(6, 34, size=(30, 3)):
        inc |= (zz - c[0]) ** 2 + (yy - c[1]) ** 2 + (xx - c[2]) ** 2 <= rng.uniform(2.5, 4.0) ** 2
    density = np.where(inc, 3.0, np.where(matrix, 1.0, 0.0)).astype(np.float32)
    sim = syn.simulate_tilt_series(density, tilt_range=(-60, 60, 3), dose=300, seed=seed)
    rec = reconstruct(sim.tilts, "fbp", device="cpu")
    return rec.data, inc.astype(np.uint8)


def test_fine_tuning_on_a_few_annotated_slices_beats_the_default_model():
    image, truth = _inclusions_tomogram(1)
    test_image, test_truth = _inclusions_tomogram(2)
    sparse = np.full(truth.shape, 255, np.uint8)
    for z in (5, 12, 19, 26, 33):  # five annotated slices of 40
        sparse[z] = truth[z]
    default_dice = dice_per_class(segment(test_image, device="cpu"), test_truth, 2)[1]
    model = train_segmenter(image, sparse, epochs=3, steps_per_epoch=8, patch=32, batch_size=2,
                            init="default", val_fraction=0.2, seed=0, device="cpu",
                            learning_rate=2e-3)
    tuned_dice = dice_per_class(segment(test_image, model=model, device="cpu"), test_truth, 2)[1]
    assert model.info["val_dice"] is not None and len(model.info["val_dice"]) == 2
    assert tuned_dice > default_dice + 0.2, (default_dice, tuned_dice)
    assert tuned_dice > 0.55


def test_validation_split_holds_out_the_last_annotated_slices():
    lab = np.full((10, 4, 4), 255, np.int64)
    lab[[1, 3, 5, 7, 9]] = 1
    train, val = _split_validation(lab, 0.2, 255)
    assert np.all(train[9] == 255) and np.all(val[9] == 1)
    assert np.all(val[:9] == 255) and np.all(train[[1, 3, 5, 7]] == 1)


def test_training_rejects_mismatched_shapes_and_empty_labels():
    img = np.zeros((16, 16, 16), np.float32)
    with pytest.raises(InputError, match="shape"):
        train_segmenter(img, np.zeros((16, 16, 8), np.uint8), epochs=1, init=None)
    with pytest.raises(InputError, match="annotated"):
        train_segmenter(img, np.full((16, 16, 16), 255, np.uint8), epochs=1, init=None,
                        val_fraction=0)
