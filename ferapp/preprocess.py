"""The ONE preprocessing function per model config, shared by training and live inference.

Input: a face crop (already aligned by ``ferapp.detect.align.align_face`` for live frames and
full-size datasets, or a pre-cropped dataset image such as FER2013's 48x48), uint8, gray
(H, W) or BGR (H, W, 3). Output: float32 array (C, H, W) at ``cfg.input_size``, normalised.
Five-crop (P5) is applied later, on tensors, by ``five_crops``.
"""

from __future__ import annotations

import cv2
import numpy as np

from ferapp.zoo.registry import ModelCfg


def to_model_pixels(crop: np.ndarray, cfg: ModelCfg) -> np.ndarray:
    """uint8 crop -> uint8 (H, W) or (H, W, 3 RGB) at the model's input size and channels."""
    img = crop
    if img.ndim == 3 and img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)
    if cfg.channels == 1:
        if img.ndim == 3:
            img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    else:
        if img.ndim == 2:
            img = cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
        else:
            img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    h, w = cfg.input_size
    if img.shape[0] != h or img.shape[1] != w:
        interp = cv2.INTER_AREA if img.shape[0] > h else cv2.INTER_LINEAR
        img = cv2.resize(img, (w, h), interpolation=interp)
    return img


def normalize(pixels: np.ndarray, cfg: ModelCfg) -> np.ndarray:
    """uint8 (H, W[, C]) -> float32 (C, H, W) normalised with the config's mean/std."""
    x = pixels.astype(np.float32) * (1.0 / 255.0)
    x = (x - cfg.mean) / cfg.std
    if x.ndim == 2:
        return x[None]
    return np.ascontiguousarray(x.transpose(2, 0, 1))


def preprocess_face(crop: np.ndarray, cfg: ModelCfg) -> np.ndarray:
    """The shared preprocessing: uint8 crop -> float32 (C, H, W) ready for the network."""
    return normalize(to_model_pixels(crop, cfg), cfg)


def five_crops(x, size: int):
    """(N, C, H, W) tensor -> (N, 5, C, size, size): four corners + centre (P5)."""
    import torch

    h, w = x.shape[-2:]
    top, left = (h - size) // 2, (w - size) // 2
    crops = [
        x[..., :size, :size],
        x[..., :size, w - size :],
        x[..., h - size :, :size],
        x[..., h - size :, w - size :],
        x[..., top : top + size, left : left + size],
    ]
    return torch.stack(crops, dim=1)
