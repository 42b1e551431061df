"""The training losses on a real CamVid label map: Lovasz equals 1 - IoU at hard predictions,
OHEM averages exactly the pixels the model still gets wrong."""

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from model.classes import NUM_CLASSES, VOID_INDEX
from model.losses import LOSSES, lovasz_softmax, ohem_cross_entropy, segmentation_loss
from model.metrics import ConfusionMatrix


@pytest.fixture
def truth_and_shifted(camvid_root):
    """A real label map and a prediction of it shifted 6 px sideways (errors on every edge)."""
    name = sorted((camvid_root / "trainannot").glob("0006R0_*.png"))[3]
    truth = cv2.imread(str(name), cv2.IMREAD_UNCHANGED)[::4, ::4].astype(np.int64)
    shifted = np.roll(truth, 6, axis=1)
    shifted[shifted == VOID_INDEX] = 0  # a prediction never says void
    return truth, shifted


def one_hot_logits(labels: np.ndarray, margin: float) -> torch.Tensor:
    onehot = F.one_hot(torch.from_numpy(labels), NUM_CLASSES).permute(2, 0, 1).float()
    return (onehot * margin).unsqueeze(0)


def test_lovasz_at_hard_predictions_is_one_minus_iou(truth_and_shifted):
    truth, shifted = truth_and_shifted
    probs = one_hot_logits(shifted, 1.0)  # exact one-hot probabilities: the extension equals the set function
    loss = lovasz_softmax(probs, torch.from_numpy(truth).unsqueeze(0), ignore_index=VOID_INDEX)
    matrix = ConfusionMatrix()
    matrix.update(shifted, truth)
    scores = matrix.compute()
    present = [c for c in range(NUM_CLASSES) if c != VOID_INDEX and (truth == c).any()]
    expected = np.mean([1.0 - scores.iou[c] for c in present])
    assert float(loss) == pytest.approx(expected, abs=1e-5)
    perfect = lovasz_softmax(one_hot_logits(np.where(truth == VOID_INDEX, 0, truth), 1.0),
                             torch.from_numpy(truth).unsqueeze(0), ignore_index=VOID_INDEX)
    assert float(perfect) == pytest.approx(0.0, abs=1e-6)


def test_ohem_averages_the_wrong_pixels_only(truth_and_shifted):
    truth, shifted = truth_and_shifted
    logits = one_hot_logits(shifted, 8.0)  # confident: right pixels ~1.0 true-class probability, wrong ~0.0
    labels = torch.from_numpy(truth).unsqueeze(0)
    per_pixel = F.cross_entropy(logits, labels, ignore_index=VOID_INDEX, reduction="none")[0].numpy()
    wrong = (shifted != truth) & (truth != VOID_INDEX)
    assert wrong.sum() > (truth != VOID_INDEX).sum() / 16  # enough hard pixels: the threshold rules
    ohem = ohem_cross_entropy(logits, labels, weight=None, ignore_index=VOID_INDEX)
    assert float(ohem) == pytest.approx(per_pixel[wrong].mean(), rel=1e-5)
    plain = segmentation_loss("ce", logits, labels, weight=None, ignore_index=VOID_INDEX)
    assert float(ohem) > 5 * float(plain)  # the easy majority no longer dilutes the loss


def test_ohem_keeps_the_hardest_share_when_the_batch_is_easy(truth_and_shifted):
    truth, _ = truth_and_shifted
    labels = torch.from_numpy(truth).unsqueeze(0)
    logits = one_hot_logits(np.where(truth == VOID_INDEX, 0, truth), 8.0)
    per_pixel = F.cross_entropy(logits, labels, ignore_index=VOID_INDEX, reduction="none")[0].numpy()
    valid = per_pixel[truth != VOID_INDEX]
    keep = int(valid.size / 16)
    ohem = ohem_cross_entropy(logits, labels, weight=None, ignore_index=VOID_INDEX)
    assert float(ohem) == pytest.approx(np.sort(valid)[-keep:].mean(), rel=1e-5)


def test_every_loss_has_gradients_and_unknown_is_refused(truth_and_shifted):
    truth, shifted = truth_and_shifted
    labels = torch.from_numpy(truth).unsqueeze(0)
    for kind in LOSSES:
        logits = one_hot_logits(shifted, 2.0).requires_grad_()
        segmentation_loss(kind, logits, labels, weight=None, ignore_index=VOID_INDEX).backward()
        assert logits.grad.abs().sum() > 0, kind
    with pytest.raises(ValueError, match="unknown loss"):
        segmentation_loss("focal", logits, labels, weight=None, ignore_index=VOID_INDEX)


def test_the_command_offers_every_loss():
    import argparse

    from model.cli import add_model_commands

    parser = argparse.ArgumentParser()
    add_model_commands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["train", "--data", "x", "--loss", "lovasz"])
    assert args.loss == "lovasz" and parser.parse_args(["train", "--data", "x"]).loss == LOSSES[0]
    for kind in LOSSES:
        assert parser.parse_args(["train", "--data", "x", "--loss", kind]).loss == kind


def test_distillation_is_zero_at_the_teacher_and_pulls_the_student_toward_it(truth_and_shifted):
    from model.losses import distillation_loss

    truth, shifted = truth_and_shifted
    teacher = one_hot_logits(np.where(truth == VOID_INDEX, 0, truth), margin=4.0)
    assert float(distillation_loss(teacher.clone(), teacher)) == pytest.approx(0.0, abs=1e-6)
    student = one_hot_logits(shifted, margin=4.0).requires_grad_(True)
    before = distillation_loss(student, teacher)
    assert before.item() > 0.1
    before.backward()
    with torch.no_grad():
        stepped = student - 50.0 * student.grad
    assert distillation_loss(stepped, teacher).item() < before.item()
    # it is KL(teacher || student) of the softened distributions, times T^2, over every pixel
    t = 2.0
    p, q = (teacher / t).softmax(1), (student.detach() / t).softmax(1)
    expected = (p * (p.log() - q.log())).sum(1).mean() * t * t
    assert before.item() == pytest.approx(expected.item(), rel=1e-4)
