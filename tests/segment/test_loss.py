"""The masked Dice + cross-entropy loss and the Dice metric."""

from __future__ import annotations

import numpy as np
import torch

from tomoml.segment.training import dice_per_class, masked_dice_ce_loss


def test_ignore_label_voxels_do_not_affect_the_loss_or_its_gradient():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 3, 8, 8, 8, generator=g)
    target = torch.randint(0, 3, (2, 1, 8, 8, 8), generator=g)
    ignore = torch.zeros_like(target, dtype=torch.bool)
    ignore[:, :, :4] = True
    target[ignore] = 255
    other = logits.clone()
    other[ignore.expand_as(other)] = torch.randn(int(ignore.sum()) * 3, generator=g) * 10
    a = masked_dice_ce_loss(logits, target, ignore_label=255)
    b = masked_dice_ce_loss(other, target, ignore_label=255)
    assert torch.allclose(a, b, atol=1e-6)
    x = logits.clone().requires_grad_(True)
    masked_dice_ce_loss(x, target, ignore_label=255).backward()
    assert float(x.grad[ignore.expand_as(x)].abs().max()) == 0.0
    assert float(x.grad[~ignore.expand_as(x)].abs().max()) > 0.0


def test_loss_without_ignored_voxels_equals_monai_dice_ce():
    from monai.losses import DiceCELoss

    g = torch.Generator().manual_seed(1)
    logits = torch.randn(2, 2, 8, 8, 8, generator=g)
    target = torch.randint(0, 2, (2, 1, 8, 8, 8), generator=g)
    ref = DiceCELoss(to_onehot_y=True, softmax=True, batch=True)(logits, target)
    ours = masked_dice_ce_loss(logits, target, ignore_label=255)
    assert torch.allclose(ours, ref, atol=1e-5)


def test_dice_per_class_matches_hand_count_and_skips_ignored():
    truth = np.array([0, 0, 1, 1, 255, 255]).reshape(1, 1, 6)
    pred = np.array([0, 1, 1, 1, 1, 0]).reshape(1, 1, 6)
    d = dice_per_class(pred, truth, 2, ignore_label=255)
    # class 1: |P|=3, |T|=2, |P∩T|=2 -> 0.8; class 0: |P|=1, |T|=2, overlap 1 -> 2/3
    assert np.allclose(d, [2 / 3, 0.8])
