"""Parameter and multiply-accumulate counts (forward hooks on Conv2d / Linear)."""

from __future__ import annotations

import torch
from torch import nn


def count_params(model: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def count_effective_params(model: nn.Module) -> int:
    """Parameters minus weights a fixed connection mask (P1's C3 table) keeps at zero."""
    total = count_params(model)
    for m in model.modules():
        mask = getattr(m, "mask", None)
        if isinstance(m, nn.Conv2d) and isinstance(mask, torch.Tensor):
            w = m.weight
            total -= int(w.numel() - (mask.expand_as(w) != 0).sum().item())
    return total


def count_macs(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """MACs for ONE sample of shape (C, H, W) (a leading batch dim is accepted and divided out).

    Conv2d: out_elements * (in_channels / groups) * kh * kw (masked convs count only present
    links); Linear: out_elements * in_features. BN, activations and pooling are not counted.
    """
    shape = tuple(input_shape)
    if len(shape) == 3:
        shape = (1,) + shape
    n = shape[0]
    total = 0

    def conv_hook(m: nn.Conv2d, _inp, out) -> None:
        nonlocal total
        kh, kw = m.kernel_size
        per_out: float = (m.in_channels // m.groups) * kh * kw
        mask = getattr(m, "mask", None)
        if isinstance(mask, torch.Tensor):
            links = (mask.expand_as(m.weight) != 0).sum().item()
            per_out = links / m.out_channels
        total += int(out.numel() * per_out)

    def linear_hook(m: nn.Linear, _inp, out) -> None:
        nonlocal total
        total += int(out.numel() * m.in_features)

    handles = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            handles.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            handles.append(m.register_forward_hook(linear_hook))
    was_training = model.training
    try:
        model.eval()
        p = next(model.parameters(), None)
        dtype = p.dtype if p is not None else torch.float32
        with torch.no_grad():
            model(torch.zeros(shape, dtype=dtype))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return total // n


__all__ = ["count_params", "count_effective_params", "count_macs"]
