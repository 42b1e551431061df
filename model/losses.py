"""Training losses: plain cross-entropy and two that favour thin and rare classes.

Poles, signs, fences and pedestrians are a few percent of a frame's pixels, so the mean of a
per-pixel cross-entropy is ruled by road, sky and building. OHEM keeps only the pixels the
model still gets wrong; Lovasz-softmax optimises (a convex surrogate of) each class's IoU
directly, so a class's weight does not depend on its area (Berman et al., CVPR 2018).
Distillation adds a larger teacher's softened per-pixel class distribution as a second target
(Hinton et al., 2015): it says how unsure the teacher is at a pole's edge, which a label cannot.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

LOSSES = ("ce", "ohem", "lovasz")  #: ``train --loss`` choices, the default first

OHEM_THRESHOLD = 0.7  #: a pixel whose true-class probability is below this is "hard"
OHEM_MIN_KEPT = 1 / 16  #: at least this share of the batch's labelled pixels is kept
DISTILL_TEMPERATURE = 2.0  #: both distributions are softened by this before they are compared


def segmentation_loss(kind: str, logits: torch.Tensor, labels: torch.Tensor, *, weight: torch.Tensor | None,
                      ignore_index: int) -> torch.Tensor:
    """The loss named ``kind`` for (N, C, H, W) logits and (N, H, W) labels."""
    if kind == "ce":
        return F.cross_entropy(logits, labels, weight=weight, ignore_index=ignore_index)
    if kind == "ohem":
        return ohem_cross_entropy(logits, labels, weight=weight, ignore_index=ignore_index)
    if kind == "lovasz":
        ce = F.cross_entropy(logits, labels, weight=weight, ignore_index=ignore_index)
        return ce + lovasz_softmax(logits.softmax(dim=1), labels, ignore_index=ignore_index)
    raise ValueError(f"unknown loss {kind!r} (choose from {', '.join(LOSSES)})")


def ohem_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, *, weight: torch.Tensor | None,
                       ignore_index: int, threshold: float = OHEM_THRESHOLD,
                       min_kept: float = OHEM_MIN_KEPT) -> torch.Tensor:
    """Cross-entropy over the hard pixels only (true-class probability < ``threshold``).

    When fewer than ``min_kept`` of the labelled pixels are hard, the hardest ``min_kept``
    are used instead, so a well-fitted batch still teaches something.
    """
    per_pixel = F.cross_entropy(logits, labels, weight=weight, ignore_index=ignore_index, reduction="none").flatten()
    valid = labels.flatten() != ignore_index
    losses = per_pixel[valid]
    if losses.numel() == 0:
        return logits.sum() * 0.0
    with torch.no_grad():
        safe = labels.clamp(0, logits.shape[1] - 1).unsqueeze(1)
        true_prob = logits.detach().softmax(dim=1).gather(1, safe).flatten()[valid]
    hard = true_prob < threshold
    keep = max(1, int(min_kept * losses.numel()))
    if int(hard.sum()) < keep:
        return losses.topk(keep).values.mean()
    return losses[hard].mean()


def lovasz_softmax(probs: torch.Tensor, labels: torch.Tensor, *, ignore_index: int) -> torch.Tensor:
    """Mean over the classes present in the batch of the Lovasz extension of 1 - IoU."""
    classes = probs.shape[1]
    flat = probs.permute(0, 2, 3, 1).reshape(-1, classes)
    target = labels.flatten()
    valid = target != ignore_index
    flat, target = flat[valid], target[valid]
    terms = []
    for c in range(classes):
        fg = (target == c).float()
        if fg.sum() == 0:
            continue
        errors = (fg - flat[:, c]).abs()
        errors_sorted, order = errors.sort(descending=True)
        terms.append(torch.dot(errors_sorted, _lovasz_grad(fg[order])))
    if not terms:
        return probs.sum() * 0.0
    return torch.stack(terms).mean()


def _lovasz_grad(fg_sorted: torch.Tensor) -> torch.Tensor:
    """Gradient of the Lovasz extension of the Jaccard loss at sorted errors (Berman et al., alg. 1)."""
    total = fg_sorted.sum()
    intersection = total - fg_sorted.cumsum(0)
    union = total + (1.0 - fg_sorted).cumsum(0)
    jaccard = 1.0 - intersection / union
    jaccard[1:] = jaccard[1:] - jaccard[:-1]
    return jaccard


def distillation_loss(student: torch.Tensor, teacher: torch.Tensor, *, temperature: float = DISTILL_TEMPERATURE) -> torch.Tensor:
    """KL(teacher || student) per pixel of (N, C, H, W) logits at ``temperature``, times its square
    (so the gradient's scale does not depend on it), averaged over every pixel: void pixels too,
    where the teacher still has a view and the label has none."""
    t = temperature
    log_student = F.log_softmax(student / t, dim=1)
    log_teacher = F.log_softmax(teacher.detach() / t, dim=1)
    per_pixel = (log_teacher.exp() * (log_teacher - log_student)).sum(dim=1)
    return per_pixel.mean() * t * t
