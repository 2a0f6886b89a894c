"""P1 - Cross-connected LeNet-5.

Li Yong, Lin Xiao-Zhu, Jiang Meng-Ying, "Facial expression recognition based on
cross-connected LeNet-5", Acta Automatica Sinica, 2018 (paper text: shared/papers/p1-*.txt).

Table 2 of the paper, input 32x32 grayscale, ReLU, max pooling:
C1 6@28x28 -> S2 6@14x14 -> C3 16@10x10 (LeCun-1998 partial connection table, 60 of the
96 S2->C3 map pairs) -> S4 16@5x5 -> C5 120@1x1 -> F6 84. The cross connection feeds the
classifier with concat(flatten S2 (1176), F6 (84), flatten S4 (400)) = 1660 values; the
paper's backprop equations put F6 at indices 1177-1260, which fixes that order.

The paper's parameter counts (LeNet-5 14,444; proposed 25,476) cannot be derived from its
Table 2; ``training/make_model_table.py`` reports the real counts.
"""

from __future__ import annotations

import torch
from torch import nn

from ferapp.zoo.registry import ModelCfg, Paper, Recipe, register_model

# LeCun et al. 1998, Table 1: for each C3 map, the S2 maps it reads (60 links in all).
LECUN_C3_TABLE: tuple[tuple[int, ...], ...] = (
    (0, 1, 2),
    (1, 2, 3),
    (2, 3, 4),
    (3, 4, 5),
    (4, 5, 0),
    (5, 0, 1),
    (0, 1, 2, 3),
    (1, 2, 3, 4),
    (2, 3, 4, 5),
    (3, 4, 5, 0),
    (4, 5, 0, 1),
    (5, 0, 1, 2),
    (0, 1, 3, 4),
    (1, 2, 4, 5),
    (0, 2, 3, 5),
    (0, 1, 2, 3, 4, 5),
)


class MaskedConv2d(nn.Conv2d):
    """Conv2d whose (out, in) connection mask zeroes absent map pairs.

    The mask multiplies the weight inside ``forward`` so the absent links stay exactly zero:
    their gradient is zero and no optimizer step (even with weight decay/momentum on the
    latent weight) can make them contribute to the output.
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, table: tuple[tuple[int, ...], ...] | None
    ) -> None:
        super().__init__(in_channels, out_channels, kernel_size)
        mask = torch.ones(out_channels, in_channels, 1, 1)
        if table is not None:
            if len(table) != out_channels:
                raise ValueError(f"connection table has {len(table)} rows, expected {out_channels}")
            mask.zero_()
            for o, ins in enumerate(table):
                mask[o, list(ins)] = 1.0
        self.register_buffer("mask", mask)
        with torch.no_grad():
            self.weight.mul_(self.mask)

    @property
    def num_links(self) -> int:
        return int(self.mask.sum().item())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, self.weight * self.mask, self.bias)


class CrossConnectedLeNet5(nn.Module):
    """LeNet-5 with the optional S2/S4 -> classifier cross connection.

    Args:
        num_classes: outputs (7).
        in_chans: input channels (1, grayscale).
        cross_connect: True = classifier on concat(S2, F6, S4) (the paper); False = plain LeNet-5 (F6 -> out).
        c3_table: "lecun" (the paper's Table 1, 60 links) or "full" (all 96 pairs).
        act: "relu" (the paper) or "tanh" (LeCun's original squashing).
        pool: "max" (the paper) or "avg".
        dropout: dropout before the classifier (0 = off; the paper uses none).
    """

    def __init__(
        self,
        num_classes: int = 7,
        in_chans: int = 1,
        cross_connect: bool = True,
        c3_table: str = "lecun",
        act: str = "relu",
        pool: str = "max",
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if c3_table not in ("lecun", "full"):
            raise ValueError("c3_table must be 'lecun' or 'full'")
        self.cross_connect = cross_connect
        self.c1 = nn.Conv2d(in_chans, 6, 5)
        self.c3 = MaskedConv2d(6, 16, 5, LECUN_C3_TABLE if c3_table == "lecun" else None)
        self.c5 = nn.Conv2d(16, 120, 5)
        self.f6 = nn.Linear(120, 84)
        self.act = nn.ReLU() if act == "relu" else nn.Tanh()
        self.pool = nn.MaxPool2d(2) if pool == "max" else nn.AvgPool2d(2)
        self.num_features = 6 * 14 * 14 + 84 + 16 * 5 * 5 if cross_connect else 84
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.fc = nn.Linear(self.num_features, num_classes)

    def forward_intermediates(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Intermediate maps by the paper's names (S2, S4, F6 used by the cross connection)."""
        c1 = self.act(self.c1(x))
        s2 = self.pool(c1)
        c3 = self.act(self.c3(s2))
        s4 = self.pool(c3)
        c5 = self.act(self.c5(s4))
        f6 = self.act(self.f6(torch.flatten(c5, 1)))
        return {"c1": c1, "s2": s2, "c3": c3, "s4": s4, "c5": c5, "f6": f6}

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        p = self.forward_intermediates(x)
        if not self.cross_connect:
            return p["f6"]
        # order S2 | F6 | S4, as in the paper's backprop equations (F6 at 1177..1260, 1-based)
        return torch.cat([torch.flatten(p["s2"], 1), p["f6"], torch.flatten(p["s4"], 1)], dim=1)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        return x if pre_logits else self.fc(self.drop(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


_CITE = (
    "Li Yong, Lin Xiao-Zhu, Jiang Meng-Ying. Facial expression recognition based on "
    "cross-connected LeNet-5. Acta Automatica Sinica, 2018."
)
# JAFFE 3-fold and CK+ 5-fold (made subject-independent), the paper's Tables 3-4
PAPER = Paper("P1", "cross-connected LeNet-5", protocols=("p1-ck", "p1-jaffe"))
_RECIPE = Recipe(
    optimizer="sgd",
    lr=0.005,
    momentum=0.0,
    schedule="plateau10",
    min_lr=5e-5,
    batch_size=32,
    epochs=100,
    loss="ce",
    algorithm="backprop",
    augment=("mirror",),
)


@register_model(
    ModelCfg(
        name="cc_lenet5",
        input_size=(32, 32),
        channels=1,
        mean=0.5,
        std=0.5,
        citation=_CITE,
        description="Cross-connected LeNet-5: classifier on concat(S2, F6, S4) = 1660 features",
        reported={"params": 25476, "JAFFE 3-fold": 94.37, "CK+ 5-fold": 83.74},
    ),
    recipe=_RECIPE,
    paper=PAPER,
    bench_quick=True,
)
def cc_lenet5(**kwargs) -> CrossConnectedLeNet5:
    return CrossConnectedLeNet5(cross_connect=True, **kwargs)


@register_model(
    ModelCfg(
        name="lenet5",
        input_size=(32, 32),
        channels=1,
        mean=0.5,
        std=0.5,
        citation=_CITE,
        description="Plain LeNet-5 baseline of P1 (F6 -> classifier), same C3 table",
        reported={"params": 14444, "JAFFE 3-fold": 62.44, "CK+ 5-fold": 32.32},
    ),
    recipe=_RECIPE,
    paper=PAPER,
)
def lenet5(**kwargs) -> CrossConnectedLeNet5:
    return CrossConnectedLeNet5(cross_connect=False, **kwargs)


__all__ = ["LECUN_C3_TABLE", "MaskedConv2d", "CrossConnectedLeNet5", "cc_lenet5", "lenet5"]
