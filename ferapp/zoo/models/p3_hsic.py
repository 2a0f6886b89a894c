"""P3 - Dense CNN with weighted dense connections, FPN fusion and channel attention,
trained layer-locally with the HSIC bottleneck (no backpropagation between layers).

Han Bo et al., "Facial expression recognition based on a dense convolutional network trained
without backpropagation" (HSIC bottleneck), Software Engineering and Applications 12(2), 2023
(shared/papers/p3-*.txt). HSIC bottleneck: Ma, Lewis, Kleijn, AAAI 2020.

Architecture (Fig. 4/5): stem conv; 3 dense blocks of 5 conv layers; inside a block each
layer's input is the channel concatenation of all earlier outputs (block input included),
each scaled by its own learned scalar weight (the paper's "attention" on the concatenation);
transitions (1x1 conv + 2x2 average pool) between blocks; the three block outputs are fused
FPN-style (1x1 lateral convs, upsample the coarse and add to the finer); global average
pooling; "layer_11" channel attention (FC -> ReLU -> FC -> per-channel sigmoid scores that
rescale the pooled vector); FC classifier.

HSIC training interface (used by ``ferapp.train``):
- ``hidden_layers()``: the locally trained units, in forward order (stem, 5 dense layers,
  transition, 5 dense layers, transition, 5 dense layers, FPN fusion) = 19 units.
  Their parameters plus ``head_parameters()`` are exactly the model's parameters.
- ``forward_hidden(x, detach=True)``: the output of every unit in the same order; with
  ``detach`` each unit sees *detached* inputs, so a loss on unit i's output only reaches
  unit i's parameters (the paper's "no gradient flows between layers").
- ``head_parameters()``: layer_11 attention + classifier, trained afterwards with
  cross-entropy on frozen features ("post-training").

Choices the paper leaves open (constructor args): growth rate (default 12), stem width
(default 24), transition compression (0.5), FPN width (default 64), attention reduction (4).
These defaults give ~0.13 M parameters so the net trains on a CPU at 48x48; the paper reports
~7 M parameters (TensorFlow, widths not given) - ``stem_channels=128, fpn_channels=512``
with ``growth=80`` gives 5.8 M, ``growth=96`` 7.8 M.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ferapp.zoo.registry import ModelCfg, Paper, Recipe, register_model


def _act(name: str) -> nn.Module:
    return {"relu": nn.ReLU(), "tanh": nn.Tanh(), "elu": nn.ELU()}[name]


class ConvBNAct(nn.Sequential):
    def __init__(self, cin: int, cout: int, k: int = 3, act: str = "relu", stride: int = 1) -> None:
        super().__init__(
            nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=False),
            nn.BatchNorm2d(cout),
            _act(act),
        )


class WeightedDenseLayer(nn.Module):
    """One dense-block conv whose input is concat(w_k * f_k) over earlier features f_k.

    ``in_splits`` are the channel counts of the earlier features; one learned scalar per
    earlier feature (initialised to 1).
    """

    def __init__(self, in_splits: list[int], growth: int, act: str = "relu") -> None:
        super().__init__()
        self.in_splits = list(in_splits)
        self.concat_weights = nn.Parameter(torch.ones(len(in_splits)))
        self.conv = ConvBNAct(sum(in_splits), growth, 3, act)

    def forward(self, feats: list[torch.Tensor]) -> torch.Tensor:
        x = torch.cat([f * self.concat_weights[i] for i, f in enumerate(feats)], dim=1)
        return self.conv(x)


class Transition(nn.Sequential):
    def __init__(self, cin: int, cout: int, act: str = "relu") -> None:
        super().__init__(
            nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), _act(act), nn.AvgPool2d(2)
        )


class FPNFusion(nn.Module):
    """Lateral 1x1 convs on the three block outputs; top-down: upsample coarse, add to finer."""

    def __init__(self, in_channels: list[int], out_channels: int) -> None:
        super().__init__()
        self.laterals = nn.ModuleList(nn.Conv2d(c, out_channels, 1) for c in in_channels)

    def forward(self, feats: list[torch.Tensor]) -> torch.Tensor:
        p = self.laterals[-1](feats[-1])
        for lat, f in zip(reversed(self.laterals[:-1]), reversed(feats[:-1]), strict=True):
            p = lat(f) + F.interpolate(p, size=f.shape[-2:], mode="nearest")
        return p  # finest resolution, semantics from all three blocks


class ChannelAttention(nn.Module):
    """layer_11: FC -> ReLU -> FC -> sigmoid per-channel scores rescaling the pooled vector."""

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        hidden = max(1, channels // reduction)
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, channels)

    def scores(self, v: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.fc2(F.relu(self.fc1(v))))

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        return v * self.scores(v)


class HSICDenseNet(nn.Module):
    """Dense CNN of P3.

    Args:
        num_blocks: dense blocks (3 in the paper).
        layers_per_block: convs per block (5).
        growth: channels per dense layer (12; scale up for the paper's ~7 M params).
        stem_channels: stem conv width (24).
        compression: transition width = compression * block output channels (0.5).
        fpn_channels: FPN lateral width = pooled feature size (64).
        attn_reduction: layer_11 bottleneck reduction (4).
        act: "relu" (the paper's best), "tanh" or "elu".
        head_norm: BatchNorm1d on the pooled vector before layer_11 (part of the head).
        stem_stride: stride of the stem conv (1; 2 runs the dense blocks at 24x24, 12x12, 6x6 and
            costs ~1/4 of the compute, what lets the CPU train it on the whole Training set).
        hsic_units: what one HSIC-trained hidden unit is. "layer" (default): every conv (stem, 15
            dense layers, 2 transitions, FPN = 19 units). "block": the stem, each dense block as a
            whole (its 5 convs learn together from the block's HSIC terms, scored on the 5 new
            feature maps), each transition, the FPN = 7 units; the paper numbers its attention
            module "layer_11", which fits modules rather than single convs. Only the training
            partition differs: the weights and the forward pass are the same.
    """

    def __init__(
        self,
        num_classes: int = 7,
        in_chans: int = 1,
        num_blocks: int = 3,
        layers_per_block: int = 5,
        growth: int = 12,
        stem_channels: int = 24,
        compression: float = 0.5,
        fpn_channels: int = 64,
        attn_reduction: int = 4,
        act: str = "relu",
        stem_stride: int = 1,
        head_norm: bool = True,
        hsic_units: str = "layer",
    ) -> None:
        super().__init__()
        if hsic_units not in ("layer", "block"):
            raise ValueError(f"hsic_units must be 'layer' or 'block', not {hsic_units!r}")
        self.hsic_units = hsic_units
        self.stem = ConvBNAct(in_chans, stem_channels, 3, act, stride=stem_stride)
        self.blocks = nn.ModuleList()
        self.transitions = nn.ModuleList()
        block_out: list[int] = []
        cin = stem_channels
        for b in range(num_blocks):
            layers = nn.ModuleList()
            splits = [cin]
            for _ in range(layers_per_block):
                layers.append(WeightedDenseLayer(splits, growth, act))
                splits = splits + [growth]
            self.blocks.append(layers)
            cout = sum(splits)
            block_out.append(cout)
            if b < num_blocks - 1:
                tout = max(1, int(round(cout * compression)))
                self.transitions.append(Transition(cout, tout, act))
                cin = tout
        self.fpn = FPNFusion(block_out, fpn_channels)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.num_features = fpn_channels
        # HSIC constrains the dependence of the pooled vector, not its scale (it reaches the
        # hundreds): the head standardises it first, so post-training starts from unit-scale
        # features (without it cross-entropy starts near 50 and the head stays near chance).
        self.head_norm = nn.BatchNorm1d(fpn_channels) if head_norm else nn.Identity()
        self.layer_11 = ChannelAttention(fpn_channels, attn_reduction)
        self.classifier = nn.Linear(fpn_channels, num_classes)

    # ---- HSIC interface -------------------------------------------------------------
    def hidden_layers(self) -> list[nn.Module]:
        units: list[nn.Module] = [self.stem]
        for b, layers in enumerate(self.blocks):
            if self.hsic_units == "block":
                units.append(layers)
            else:
                units.extend(layers)
            if b < len(self.transitions):
                units.append(self.transitions[b])
        units.append(self.fpn)
        return units

    def head_parameters(self) -> list[nn.Parameter]:
        return [*self.head_norm.parameters(), *self.layer_11.parameters(), *self.classifier.parameters()]

    def _run(
        self, x: torch.Tensor, detach: bool
    ) -> tuple[list[torch.Tensor], torch.Tensor, list[torch.Tensor]]:
        d = (lambda t: t.detach()) if detach else (lambda t: t)
        outs: list[torch.Tensor] = []
        h = self.stem(x)
        outs.append(h)
        block_outs: list[torch.Tensor] = []
        per_block = self.hsic_units == "block"
        for b, layers in enumerate(self.blocks):
            feats = [d(h)]
            for layer in layers:
                y = layer(feats)
                if not per_block:
                    outs.append(y)
                feats.append(y if per_block else d(y))  # a block unit: gradient flows inside it
            if per_block:
                outs.append(torch.cat(feats[1:], dim=1))  # the block's new maps carry its HSIC terms
                feats = [feats[0], *(d(f) for f in feats[1:])]
            cat = torch.cat(feats, dim=1)  # (already detached pieces when detach=True)
            block_outs.append(cat)
            if b < len(self.transitions):
                h = self.transitions[b](cat)
                outs.append(h)
        fused = self.pool(self.fpn(block_outs)).flatten(1)
        outs.append(fused)
        return outs, fused, block_outs

    def forward_hidden(self, x: torch.Tensor, detach: bool = True) -> list[torch.Tensor]:
        """Outputs of ``hidden_layers()`` in order (last one: pooled FPN vector (N, fpn_channels))."""
        return self._run(x, detach)[0]

    def forward_intermediates(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Each dense block's concatenated output (the maps the FPN fuses), in order."""
        return self._run(x, detach=False)[2]

    # ---- timm-style API ---------------------------------------------------------------
    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self._run(x, detach=False)[1]

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.layer_11(self.head_norm(x))
        return x if pre_logits else self.classifier(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


_CITE = (
    "Han Bo et al. Facial expression recognition with a dense convolutional network trained "
    "without backpropagation (HSIC bottleneck). Software Engineering and Applications 12(2), 2023."
)
# FER2013 (the official split)
PAPER = Paper("P3", "dense CNN, HSIC bottleneck", protocols=("official",))


@register_model(
    ModelCfg(
        name="hsic_densenet",
        input_size=(48, 48),
        channels=1,
        mean=0.5,
        std=0.5,
        citation=_CITE,
        description="3 dense blocks x 5 weighted-concat convs, FPN fusion, layer_11 channel attention; HSIC-trained",
        reported={"params": 7_000_000, "FER2013 test": 0.97, "s_per_step": 0.049, "steps": 10000},
    ),
    recipe=Recipe(
        optimizer="adam",
        lr=0.005,
        momentum=0.0,
        schedule="constant",
        batch_size=128,
        epochs=50,
        loss="ce",
        algorithm="hsic",
        augment=("mirror",),
        extra={"hsic_beta": 100.0, "hsic_sigma": 5.0},
    ),  # Gaussian kernels
    paper=PAPER,
    bench_quick=True,
)
def hsic_densenet(**kwargs) -> HSICDenseNet:
    return HSICDenseNet(**kwargs)


__all__ = ["HSICDenseNet", "WeightedDenseLayer", "FPNFusion", "ChannelAttention", "hsic_densenet"]
