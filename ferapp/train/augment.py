"""Augmentation on preprocessed float tensors (N, C, H, W): mirror, padded random crop,
small rotations. All randomness comes from the ``torch.Generator`` passed in, so a batch's
augmentation is reproducible (and identical after a resume)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def mirror(x: torch.Tensor, g: torch.Generator, p: float = 0.5) -> torch.Tensor:
    flip = (torch.rand(x.shape[0], generator=g) < p).to(x.device)
    return torch.where(flip[:, None, None, None], x.flip(-1), x)


def random_crop(x: torch.Tensor, g: torch.Generator, pad: int = 4) -> torch.Tensor:
    """Pad by ``pad`` (edge replicate) and crop back to the original size at a random offset."""
    n, _, h, w = x.shape
    xp = F.pad(x, (pad, pad, pad, pad), mode="replicate")
    oy = torch.randint(0, 2 * pad + 1, (n,), generator=g)
    ox = torch.randint(0, 2 * pad + 1, (n,), generator=g)
    rows = (oy[:, None] + torch.arange(h)[None]).to(x.device)  # (n, h)
    cols = (ox[:, None] + torch.arange(w)[None]).to(x.device)  # (n, w)
    idx_n = torch.arange(n, device=x.device)[:, None, None]
    out = xp.permute(0, 2, 3, 1)[idx_n, rows[:, :, None], cols[:, None, :]]  # (n, h, w, c)
    return out.permute(0, 3, 1, 2).contiguous()


def random_rotate(x: torch.Tensor, g: torch.Generator, max_deg: float = 10.0) -> torch.Tensor:
    n = x.shape[0]
    ang = (torch.rand(n, generator=g) * 2 - 1) * math.radians(max_deg)
    cos, sin = torch.cos(ang), torch.sin(ang)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 0, 1], theta[:, 1, 0], theta[:, 1, 1] = cos, -sin, sin, cos
    grid = F.affine_grid(theta.to(x.device, x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def random_five_crop(x: torch.Tensor, size: int, g: torch.Generator) -> torch.Tensor:
    """P5 training: one of the five crops (4 corners + centre) per sample, at random."""
    from ferapp.preprocess import five_crops

    crops = five_crops(x, size)  # (n, 5, c, s, s)
    pick = torch.randint(0, 5, (x.shape[0],), generator=g).to(x.device)
    return crops[torch.arange(x.shape[0], device=x.device), pick]


def apply_augment(x: torch.Tensor, ops, g: torch.Generator) -> torch.Tensor:
    for op in ops:
        if op == "mirror":
            x = mirror(x, g)
        elif op == "crop":
            x = random_crop(x, g)
        elif op == "rotate":
            x = random_rotate(x, g)
        elif op:
            raise ValueError(f"unknown augmentation {op!r} (known: mirror, crop, rotate)")
    return x
