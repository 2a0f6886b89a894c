"""The training-option schema: every option a run takes, typed, with its default, choices,
range and help, in one place.

``TrainConfig`` *is* the schema: each field is declared with :func:`opt`, whose ``Option``
travels in the field's metadata. From it are generated

- the ``ferapp train`` flags (:func:`add_cli_flags` / :func:`cli_overrides`),
- the training wizard's recipe form (``ferapp.gui.option_form`` reads :data:`OPTIONS`),
- the validation of recipes and overrides (:func:`validate`): an unknown key, a wrong type,
  a value outside its choices or range is an error naming the key, never silently dropped.

A model's paper recipe (``ferapp.zoo.registry.Recipe``) holds the paper's defaults of the
common fields plus ``extra`` (paper-specific options such as ``hsic_beta``); every ``extra``
key must be an option here (:meth:`TrainConfig.from_recipe` checks it).
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Option:
    """One training option. ``kind``: int | float | str | bool | multi (a tuple of ``choices``).
    ``optional``: None is allowed (means "auto"/"off", see help). ``lo``/``hi``: inclusive range.
    ``group``: where the wizard shows it ("recipe", "algorithm", "targets", "run") or "internal"
    (set by the program, not a user knob). ``flag``: the CLI flag ("" = ``--name-with-dashes``;
    None = no flag). ``when``: the option only matters when ``algorithm=X`` / ``loss=X`` /
    ``five_crop`` (a five-crop model) holds; the wizard disables it otherwise."""

    kind: str
    help: str
    choices: tuple[str, ...] = ()
    lo: float | None = None
    hi: float | None = None
    optional: bool = False
    group: str = "recipe"
    label: str = ""
    flag: str | None = ""
    when: str = ""
    name: str = ""  # filled in from the field name

    @property
    def cli_flag(self) -> str | None:
        if self.flag is None or self.group == "internal":
            return None
        return self.flag or "--" + self.name.replace("_", "-")

    @property
    def title(self) -> str:
        return self.label or self.name.replace("_", " ").capitalize()

    def check(self, value: Any) -> Any:
        """The value normalised to this option's type; ValueError naming the option otherwise."""
        n = self.name
        if value is None:
            if self.optional:
                return None
            raise ValueError(f"{n} cannot be empty")
        if self.kind == "multi":
            if isinstance(value, str):
                value = [v.strip() for v in value.split(",") if v.strip() and v.strip().lower() != "none"]
            if not isinstance(value, list | tuple):
                raise ValueError(f"{n} must be a list of {', '.join(self.choices)}, not {value!r}")
            bad = [v for v in value if v not in self.choices]
            if bad:
                raise ValueError(
                    f"{n}: unknown value(s) {', '.join(map(repr, bad))} (choose from {', '.join(self.choices)})"
                )
            return tuple(value)
        if self.kind == "bool":
            if isinstance(value, str) and value.lower() in ("true", "false", "1", "0", "yes", "no"):
                return value.lower() in ("true", "1", "yes")
            if not isinstance(value, bool):
                raise ValueError(f"{n} must be true or false, not {value!r}")
            return value
        if self.kind in ("int", "float"):
            if isinstance(value, bool):
                raise ValueError(f"{n} must be a number, not {value!r}")
            if isinstance(value, str):
                try:
                    value = float(value) if self.kind == "float" else int(value)
                except ValueError:
                    raise ValueError(
                        f"{n} must be {'a number' if self.kind == 'float' else 'an integer'}, not {value!r}"
                    ) from None
            if self.kind == "int":
                if isinstance(value, float) and value.is_integer():
                    value = int(value)
                if not isinstance(value, int):
                    raise ValueError(f"{n} must be an integer, not {value!r}")
            elif not isinstance(value, int | float) or value != value:
                raise ValueError(f"{n} must be a number, not {value!r}")
            else:
                value = float(value)
            if (self.lo is not None and value < self.lo) or (self.hi is not None and value > self.hi):
                raise ValueError(f"{n} must be from {self.lo:g} to {self.hi:g}, not {value!r}")
            return value
        if not isinstance(value, str):
            raise ValueError(f"{n} must be a string, not {value!r}")
        if self.choices and value not in self.choices:
            raise ValueError(f"{n} must be one of {', '.join(self.choices)}, not {value!r}")
        return value


def opt(default: Any, kind: str, help: str, **kw: Any):  # the option's help text
    o = Option(kind=kind, help=help, **kw)
    if isinstance(default, list | tuple):
        return field(default=tuple(default), metadata={"option": o})
    return field(default=default, metadata={"option": o})


OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("cosine", "plateau10", "step", "constant")
LOSSES = ("ce", "ce+center", "squared_hinge")
AUGMENTATIONS = ("mirror", "crop", "rotate", "affine", "photometric", "erase")  # ferapp.train.augment
ALGORITHMS = ("backprop", "hsic", "bnn")
BIG = 1e9


@dataclass
class TrainConfig:
    """Everything a run needs beyond the model (the schema; see the module docstring).
    ``from_recipe`` fills it from the paper's Recipe plus validated overrides."""

    # ---- the recipe (the wizard's "Recipe" box)
    epochs: int = opt(30, "int", "training epochs", lo=1, hi=10_000)
    batch_size: int = opt(64, "int", "images per batch", lo=2, hi=4096, label="Batch size")
    lr: float = opt(0.01, "float", "learning rate", lo=0.0, hi=10.0, label="Learning rate")
    optimizer: str = opt("sgd", "str", "optimizer", choices=OPTIMIZERS)
    momentum: float = opt(0.9, "float", "SGD momentum", lo=0.0, hi=0.999)
    weight_decay: float = opt(0.0, "float", "L2 weight decay", lo=0.0, hi=1.0, label="Weight decay")
    schedule: str = opt(
        "cosine",
        "str",
        "lr schedule: cosine to min_lr, plateau10 (P1: divide by 10 on a "
        "plateau, stop below min_lr), step (x gamma every step_size epochs), constant",
        choices=SCHEDULES,
        label="LR schedule",
    )
    min_lr: float = opt(
        0.0,
        "float",
        "lowest lr of cosine / plateau10 (plateau10: 0 means 5e-5)",
        lo=0.0,
        hi=10.0,
        label="Minimum lr",
        group="advanced",
    )
    plateau_patience: int = opt(
        3, "int", "plateau10: epochs without improvement before lr /= 10", lo=1, hi=1000, group="advanced"
    )
    # what plateau10 watches: "val_loss" (smooth; default) or "val_error" (1 - val accuracy, the
    # literal "test error" of P1, coarse on small validation sets); train loss without a val set
    plateau_metric: str = opt(
        "val_loss",
        "str",
        "plateau10 watches the validation loss or error",
        choices=("val_loss", "val_error"),
        group="advanced",
    )
    step_size: int | None = opt(
        None,
        "int",
        "step: epochs between lr drops (empty: a third of the epochs)",
        lo=1,
        hi=10_000,
        optional=True,
        group="advanced",
    )
    gamma: float = opt(0.1, "float", "step: lr factor at each drop", lo=1e-6, hi=1.0, group="advanced")
    augment: tuple[str, ...] = opt(
        ("mirror",),
        "multi",
        "training augmentation (ferapp.train.augment)",
        choices=AUGMENTATIONS,
        label="Augmentation",
    )
    loss: str = opt("ce", "str", "ce (cross-entropy), ce+center (P4), squared_hinge (P5 BNN)", choices=LOSSES)
    algorithm: str = opt(
        "backprop",
        "str",
        "backprop, hsic (P3 layer-local HSIC bottleneck), bnn (P5 binarized latent weights)",
        choices=ALGORITHMS,
        group="algorithm",
    )
    # ---- paper-specific knobs (enabled in the wizard only where they apply)
    hsic_beta: float = opt(
        100.0,
        "float",
        "P3: beta of HSIC(Z,X) - beta HSIC(Z,Y)",
        lo=0.0,
        hi=1e6,
        label="HSIC β",
        when="algorithm=hsic",
    )
    hsic_sigma: float | None = opt(
        None,
        "float",
        "P3: Gaussian kernel width (empty: median heuristic)",
        lo=1e-6,
        hi=1e6,
        optional=True,
        label="HSIC σ",
        when="algorithm=hsic",
        group="advanced",
    )
    hsic_epochs: int | None = opt(
        None,
        "int",
        "P3: epochs of layer-wise HSIC training, the rest post-train the head (empty: two thirds)",
        lo=0,
        hi=10_000,
        optional=True,
        when="algorithm=hsic",
        group="advanced",
    )
    hsic_pool: int = opt(
        0,
        "int",
        "P3: average-pool each conv unit's output to this many cells per side before its "
        "HSIC terms (0: the whole flattened map)",
        lo=0,
        hi=512,
        label="HSIC pool",
        when="algorithm=hsic",
        group="advanced",
    )
    hsic_measure: str = opt(
        "hsic",
        "str",
        "P3: dependence measure of each unit's terms: hsic (the paper's biased "
        "estimator) or nhsic (normalised, Ma et al.'s reference code)",
        choices=("hsic", "nhsic"),
        label="HSIC measure",
        when="algorithm=hsic",
        group="advanced",
    )
    hsic_kernel: str = opt(
        "gaussian",
        "str",
        "P3: kernel on each unit's output (and on the labels): gaussian (the "
        "paper) or linear (standardised features; one-hot Gram matrix for the labels)",
        choices=("gaussian", "linear"),
        label="HSIC kernel",
        when="algorithm=hsic",
        group="advanced",
    )
    hsic_eps: float = opt(
        0.01,
        "float",
        "P3: nhsic regulariser eps (R = K (K + eps m I)^-1)",
        lo=1e-8,
        hi=10.0,
        label="nHSIC ε",
        when="algorithm=hsic",
        group="advanced",
    )
    post_lr: float = opt(
        1e-3,
        "float",
        "P3: Adam lr of the head's post-training",
        lo=0.0,
        hi=10.0,
        when="algorithm=hsic",
        group="advanced",
    )
    center_weight: float = opt(
        0.01,
        "float",
        "P4: weight of the center loss",
        lo=0.0,
        hi=100.0,
        label="Center-loss weight",
        when="loss=ce+center",
    )
    center_lr: float = opt(
        0.5,
        "float",
        "P4: SGD lr of the class centres",
        lo=0.0,
        hi=100.0,
        when="loss=ce+center",
        group="advanced",
    )
    # P5 five-crop training: "random" = one random crop of five per sample, "all" = all five
    five_crop: str = opt(
        "random",
        "str",
        "P5 training crops: one random crop of the five per image, or all five",
        choices=("random", "all"),
        label="Five-crop training",
        when="five_crop",
    )
    # Courbariaux/Hubara's W_LR_scale = 1/sqrt(1.5 / (fan_in + fan_out)) (their BinaryNet code;
    # without it Adam's ~lr-sized steps rarely flip a latent weight in [-1, 1] and the binary
    # net stays near its random init); "none" = the plain lr for every parameter
    bnn_lr_scale: str = opt(
        "glorot",
        "str",
        "P5: per-layer lr multiplier of the latent binary weights",
        choices=("glorot", "none"),
        when="algorithm=bnn",
        group="advanced",
    )
    # ---- soft targets (loss "ce" with backprop). The target of a sample starts as its one-hot label;
    # ``soft_targets`` = a FER+ vote file (fer2013new.csv, rows aligned with fer2013.csv) or
    # "ferplus" (found next to the dataset) mixes in the FER+ vote distribution with weight
    # ``soft_weight`` and drops training rows FER+ marks unknown / not a face; ``distill_from``
    # (a trained model or ensemble) mixes in its probabilities (temperature ``distill_temp``)
    # with weight ``distill_weight``; then ``label_smoothing``; mixup / cutmix (Beta alphas)
    # mix images and targets per batch.
    soft_targets: str | None = opt(
        None, "str", "FER+ vote file or 'ferplus' (found beside the dataset)", optional=True, group="targets"
    )
    soft_weight: float = opt(
        0.5, "float", "weight of the FER+ votes in the target", lo=0.0, hi=1.0, group="targets"
    )
    distill_from: str | None = opt(
        None,
        "str",
        "teacher model (folder or name) whose probabilities join the target",
        optional=True,
        group="targets",
    )
    distill_weight: float = opt(
        0.5, "float", "weight of the teacher in the target", lo=0.0, hi=1.0, group="targets"
    )
    distill_temp: float = opt(2.0, "float", "teacher softmax temperature", lo=0.01, hi=100.0, group="targets")
    label_smoothing: float = opt(0.0, "float", "label smoothing", lo=0.0, hi=0.99, group="targets")
    mixup: float = opt(0.0, "float", "mixup Beta alpha (0: off)", lo=0.0, hi=100.0, group="targets")
    cutmix: float = opt(0.0, "float", "cutmix Beta alpha (0: off)", lo=0.0, hi=100.0, group="targets")
    # ---- the run
    device: str = opt(
        "auto",
        "str",
        "auto (CUDA, then Apple MPS, then CPU), cpu, cuda or mps",
        choices=("auto", "cpu", "cuda", "mps"),
        group="run",
    )
    num_threads: int | None = opt(
        None,
        "int",
        "torch CPU threads per process (empty: ferapp train's default: 1 for "
        "models under 100k parameters, else all cores but one shared by the "
        "machine's training processes; 1 on a 2-core machine)",
        lo=1,
        hi=1024,
        optional=True,
        group="run",
        flag="--threads",
        label="CPU threads",
    )
    seed: int = opt(0, "int", "random seed (shuffling, augmentation, init)", lo=0, hi=2**31 - 1, group="run")
    amp: bool = opt(True, "bool", "mixed precision on CUDA", group="advanced", flag=None)
    # bf16 autocast + channels_last on CPUs with native bf16 (AVX512-BF16/AMX): ~2.3x faster
    # training of the conv nets on this project's CPU; evaluation stays fp32
    cpu_bf16: bool = opt(True, "bool", "bf16 autocast on CPUs with native bf16", group="advanced", flag=None)
    restore_best: bool = opt(
        True, "bool", "end with the best-by-validation weights", group="advanced", flag=None
    )
    resume: str | None = opt(
        None,
        "str",
        "checkpoint (last.pt / best.pt) to continue; needs a single fold",
        optional=True,
        group="run",
    )
    # warm start: a model folder, checkpoint or model name whose weights initialise the net
    # (same architecture); unlike ``resume`` the optimizer and schedule start fresh
    init_from: str | None = opt(
        None,
        "str",
        "warm start (fine-tune) from a trained model of the same architecture",
        optional=True,
        group="run",
    )
    max_batches_per_epoch: int | None = opt(
        None,
        "int",
        "cap batches per epoch (smoke tests)",
        lo=1,
        hi=BIG,
        optional=True,
        group="run",
        flag="--max-batches",
    )
    checkpoint_every: int | None = opt(
        None,
        "int",
        "also write last.pt every N training steps, mid-epoch (an "
        "interrupted or restarted run then loses at most N steps)",
        lo=1,
        hi=BIG,
        optional=True,
        group="run",
        label="Checkpoint every N steps",
    )
    out_dir: str | None = opt(None, "str", "run folder of this fold", optional=True, group="internal")
    log_every: int = opt(
        10, "int", "device->host loss reads on CUDA, every N steps", lo=1, hi=100_000, group="internal"
    )

    @classmethod
    def from_recipe(cls, recipe, **overrides: Any) -> TrainConfig:
        """The paper's ``Recipe`` (or None: the schema defaults), then ``overrides``; None values
        in ``overrides`` mean "not given". Unknown keys or bad values raise ValueError."""
        base: dict[str, Any] = {}
        if recipe is not None:
            # every Recipe field but ``extra`` is an option of the same name (a test checks it)
            base = {f.name: getattr(recipe, f.name) for f in dataclasses.fields(recipe) if f.name != "extra"}
            base.update(validate(dict(recipe.extra or {}), what="recipe extra"))
        given = validate({k: v for k, v in overrides.items() if v is not None}, what="training option")
        base.update(given)
        t = cls(**validate(base, what="recipe"))
        if t.algorithm == "bnn" and "loss" not in given and (recipe is None or recipe.loss == "ce"):
            t.loss = "squared_hinge"
        return t

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["augment"] = list(self.augment)
        return d


OPTIONS: dict[str, Option] = {}
for _f in dataclasses.fields(TrainConfig):
    _o = dataclasses.replace(_f.metadata["option"], name=_f.name)
    OPTIONS[_f.name] = _o
del _f, _o


def validate(values: dict[str, Any], what: str = "training option") -> dict[str, Any]:
    """``values`` checked against :data:`OPTIONS`: unknown keys (with a close match suggested),
    wrong types, choices and ranges are ValueErrors naming the key; returns normalised values."""
    out: dict[str, Any] = {}
    for k, v in values.items():
        o = OPTIONS.get(k)
        if o is None:
            near = difflib.get_close_matches(k, list(OPTIONS), n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise ValueError(f"unknown {what} {k!r}{hint}; known: {', '.join(OPTIONS)}")
        out[k] = o.check(v)
    return out


def relevant(o: Option, algorithm: str, loss: str, five_crop: bool) -> bool:
    """Whether option ``o`` has an effect for a run with this algorithm / loss / model."""
    if not o.when:
        return True
    if o.when == "five_crop":
        return five_crop
    key, _, val = o.when.partition("=")
    return {"algorithm": algorithm, "loss": loss}[key] == val


def cli_options() -> list[Option]:
    return [o for o in OPTIONS.values() if o.cli_flag]


def add_cli_flags(parser) -> None:
    """One ``ferapp train`` flag per option (typed by argparse only as strings; :func:`cli_overrides`
    checks them through the schema so the CLI, recipes and the wizard reject the same values)."""
    group = parser.add_argument_group("training options (defaults: the model's paper recipe)")
    for o in cli_options():
        extra = f" (one of {', '.join(o.choices)})" if o.choices and o.kind != "multi" else ""
        if o.kind == "multi":
            extra = f" (comma list of {', '.join(o.choices)}; 'none' for none)"
        group.add_argument(o.cli_flag, dest=o.name, default=None, metavar=o.kind.upper(), help=o.help + extra)


def cli_overrides(args) -> dict[str, Any]:
    """The options given on the command line, validated (ValueError names the bad flag)."""
    raw = {o.name: getattr(args, o.name) for o in cli_options() if getattr(args, o.name, None) is not None}
    try:
        return validate(raw)
    except ValueError as e:
        name = str(e).split(" ", 1)[0].split(":")[0]
        o = OPTIONS.get(name)
        raise ValueError(f"{o.cli_flag}: {e}" if o else str(e)) from None


SMALL_MODEL_PARAMS = 100_000


def default_threads(params: int, processes_here: int = 1, cores: int | None = None) -> int:
    """``ferapp train``'s torch CPU threads per process when ``--threads`` is not given.

    1 for a small model (under 100k parameters: the LeNet-5s), whose layers are too small to gain
    from a second thread; for a larger model all cores but one (the rule of the live app), shared
    by this machine's training processes, at least 1. On a 2-core machine that is 1 thread:
    measured with training/measure_threads.py (training/reports/train_threads.json, README
    "Distributed training"), a second thread made both models 3.5-14x slower whenever anything
    else ran beside them (the threads wait for each other on a busy core)."""
    if params < SMALL_MODEL_PARAMS:
        return 1
    import os

    cores = cores or os.cpu_count() or 1
    return max(1, (cores - 1) // max(1, int(processes_here)))


__all__ = [
    "OPTIONS",
    "Option",
    "TrainConfig",
    "add_cli_flags",
    "cli_overrides",
    "default_threads",
    "relevant",
    "validate",
]


# ---- recipe files (training/recipes/*.json, read by training/run_recipe.py)
RECIPE_FILE_KEYS = {
    "name": "run and shipped-model name (default: the file's stem)",
    "arch": "registered architecture",
    "data": "dataset path, relative to the repository",
    "protocol": "evaluation protocol (default official)",
    "ship": "copy the trained model into models/<name>/ and finalise it",
    "model_kwargs": "constructor arguments of the architecture",
    "overrides": "training options (this schema) over the paper's recipe",
    "inference": "ModelCfg inference fields written into config.json (e.g. flip_tta)",
    "max_train": "stratified cap on training images per fold",
    "folds": "0-based folds to run",
    "notes": "where the recipe departs from the paper, and why",
}


def check_recipe_file(r: dict[str, Any]) -> dict[str, Any]:
    """A recipe file's dict with its keys and ``overrides`` checked; ValueError names the problem."""
    if not isinstance(r, dict):
        raise ValueError("a recipe must be a JSON object")
    bad = sorted(set(r) - set(RECIPE_FILE_KEYS))
    if bad:
        raise ValueError(f"unknown recipe key(s) {', '.join(bad)}; known: {', '.join(RECIPE_FILE_KEYS)}")
    for k in ("arch", "data"):
        if not isinstance(r.get(k), str) or not r[k]:
            raise ValueError(f"recipe needs {k!r} ({RECIPE_FILE_KEYS[k]})")
    for k in ("model_kwargs", "overrides", "inference"):
        if not isinstance(r.get(k, {}), dict):
            raise ValueError(f"recipe {k!r} must be an object")
    return {**r, "overrides": validate(dict(r.get("overrides") or {}), what="recipe override")}
