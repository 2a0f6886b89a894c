"""Uniform "uint8 face crops -> class probabilities" for one model or an ensemble.

This is the one place that turns crops into model input for inference (the shared
``ferapp.preprocess.preprocess_face`` + five-crop averaging for P5 models), so an ensemble
whose members have different input specs can feed each member correctly.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ferapp.preprocess import five_crops, preprocess_face
from ferapp.zoo.registry import ModelCfg


def crops_to_tensor(crops: Sequence[np.ndarray] | np.ndarray, cfg: ModelCfg) -> torch.Tensor:
    """uint8 crops (list of (H, W[, 3]) or an (N, H, W[, 3]) array) -> float (N, C, H, W) per cfg."""
    if isinstance(crops, np.ndarray) and crops.ndim == 2:
        crops = [crops]
    arr = np.stack([preprocess_face(np.asarray(c), cfg) for c in crops]) if len(crops) else \
        np.zeros((0, cfg.channels, *cfg.input_size), np.float32)
    return torch.from_numpy(arr)


@torch.no_grad()
def logits_from_input(model: torch.nn.Module, x: torch.Tensor, cfg: ModelCfg) -> torch.Tensor:
    """(N, C, H, W) normalised input at cfg.input_size -> (N, K) logits; five-crop models
    run the 5 crops and average their outputs (P5's voting)."""
    if cfg.five_crop:
        n = x.shape[0]
        xc = five_crops(x, cfg.five_crop)
        out = model(xc.reshape(n * 5, *xc.shape[2:]))
        return out.reshape(n, 5, -1).mean(dim=1)
    return model(x)


@torch.no_grad()
def predict_probs(model: torch.nn.Module, cfg: ModelCfg, crops: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
    """uint8 crops -> (N, K) float32 softmax probabilities in ``cfg.labels`` order (model in eval mode)."""
    was_training = model.training
    model.eval()
    try:
        x = crops_to_tensor(crops, cfg)
        p = next(model.parameters(), None)
        if p is not None:  # the engine may have moved the (member) model to a GPU
            x = x.to(device=p.device, dtype=p.dtype)
        if x.shape[0] == 0:
            return np.zeros((0, cfg.num_classes), np.float32)
        return torch.softmax(logits_from_input(model, x, cfg).float(), dim=1).cpu().numpy().astype(np.float32)
    finally:
        model.train(was_training)


__all__ = ["crops_to_tensor", "logits_from_input", "predict_probs"]
