"""Photometric augmentation for footage unlike the training drives: other light, weather and cameras.

CamVid's drives differ most in light (drive 0001TP is at dusk), and users' dashcams differ in
white balance, sharpness and sensor noise; the ``strong`` set draws each of those per sample.
"""

from __future__ import annotations

__all__ = ["PHOTOMETRIC", "strong_photometric"]

import cv2
import numpy as np

PHOTOMETRIC = ("basic", "strong")  # basic: brightness, contrast, saturation (data._colour_jitter)


def strong_photometric(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Gamma, per-channel gain (white balance), hue shift, then sometimes blur and sensor noise."""
    img = image.astype(np.float32) / 255.0
    img = np.power(img, rng.uniform(0.6, 1.6))  # darker and brighter exposures than jitter gives
    img *= rng.uniform(0.85, 1.15, size=3).astype(np.float32)  # white balance
    img = np.clip(img * 255.0, 0, 255).astype(np.uint8)
    hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV)
    hsv[..., 0] = ((hsv[..., 0].astype(np.int16) + int(rng.integers(-8, 9))) % 180).astype(np.uint8)
    img = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)
    if rng.random() < 0.3:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.5, 1.5))
    if rng.random() < 0.3:
        noise = rng.normal(0.0, rng.uniform(2.0, 8.0), img.shape).astype(np.float32)
        img = np.clip(img.astype(np.float32) + noise, 0, 255).astype(np.uint8)
    return img
