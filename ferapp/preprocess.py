"""The ONE preprocessing function per model config, shared by training and live inference.

Input: a face crop (already aligned by ``ferapp.detect.align.align_face`` for live frames and
full-size datasets, or a pre-cropped dataset image such as FER2013's 48x48), uint8, gray
(H, W) or BGR (H, W, 3). Output: float32 array (C, H, W) at ``cfg.input_size``, normalised.
Five-crop (P5) and mirror test-time views are applied later, on the batch (``view_batch``,
``merge_views``: numpy arrays for onnxruntime, torch tensors for torch, the same views).
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


def crops_to_array(crops, cfg: ModelCfg) -> np.ndarray:
    """uint8 crops (list of (H, W[, 3]) or an (N, H, W[, 3]) array) -> float32 (N, C, H, W)."""
    if isinstance(crops, np.ndarray) and crops.ndim == 2:
        crops = [crops]
    if not len(crops):
        return np.zeros((0, cfg.channels, *cfg.input_size), np.float32)
    return np.stack([preprocess_face(np.asarray(c), cfg) for c in crops])


def five_crops(x, size: int):
    """(N, C, H, W) array or tensor -> (N, 5, C, size, size): four corners + centre (P5)."""
    h, w = x.shape[-2:]
    top, left = (h - size) // 2, (w - size) // 2
    crops = [
        x[..., :size, :size],
        x[..., :size, w - size :],
        x[..., h - size :, :size],
        x[..., h - size :, w - size :],
        x[..., top : top + size, left : left + size],
    ]
    if isinstance(x, np.ndarray):
        return np.stack(crops, axis=1)
    import torch

    return torch.stack(crops, dim=1)


def view_batch(x, cfg: ModelCfg):
    """Every test-time view of a normalised (N, C, H, W) batch (numpy array or torch tensor) as
    one batch: the input, then its mirror (``cfg.flip_tta``), each cut into P5's five crops
    (``cfg.five_crop``). Returns (batch, views, crops) for ``merge_views``."""
    views = 2 if cfg.flip_tta else 1
    xs = x
    if views == 2:
        if isinstance(x, np.ndarray):
            xs = np.concatenate([x, x[..., ::-1]])
        else:
            import torch

            xs = torch.cat([x, x.flip(-1)])
    crops = 1
    if cfg.five_crop:
        xc = five_crops(xs, cfg.five_crop)
        xs, crops = xc.reshape(-1, *xc.shape[2:]), 5
    return xs, views, crops


def merge_views(out, n: int, views: int, crops: int):
    """The network's (views * n * crops, K) outputs of ``view_batch``'s batch -> (n, K): the mean
    over the views and crops (P5's voting, mirror TTA)."""
    if views == 1 and crops == 1:
        return out
    out = out.reshape(views, n, crops, -1)
    if isinstance(out, np.ndarray):
        return out.mean(axis=(0, 2))
    return out.mean(dim=(0, 2))
