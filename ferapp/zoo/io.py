"""Checkpoints and model folders, loaded safely.

Checkpoint (training runs): one ``torch.save`` file holding only plain types and tensors::

    {"format": "ferapp-checkpoint", "version": 1, "arch": name, "cfg": cfg.to_dict(),
     "state_dict": {...}, "extra": {...}}   # extra: epoch, optimizer state, metrics ...

It is read with ``torch.load(..., weights_only=True)``, so a malicious pickle executes
nothing; truncated, foreign or mismatched files raise ``CheckpointError`` with a clear message.

Model folder (shipped / user models)::

    config.json         {"format": "ferapp-model", "format_version": 1, "arch": name,
                         **cfg.to_dict(), "meta": {...}}  (or {"ensemble": [refs], ...})
    model.pt            {"format": "ferapp-weights", "state_dict": ...}; float tensors with
                         more than 65,536 elements stored fp16 (sign-preserving), the rest fp32
    model.packed.npz    a weight sidecar, for architectures that declare one (``register_model(...,
                         sidecar=...)``; P5: 1-bit weights + folded BN, ``ferapp.zoo.packed``): the
                         weights it names (``packed_keys`` in model.pt) live only there, not in model.pt
    README.md           model card (written by training, not here)
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ferapp.safeio import open_regular
from ferapp.zoo.catalog import MAX_CONFIG_BYTES, config_to_cfg, read_config  # noqa: F401  (re-exported; torch-free)
from ferapp.zoo.errors import CheckpointError
from ferapp.zoo.registry import ModelCfg, check_model_args, create_model, list_models, weight_sidecar

CKPT_FORMAT = "ferapp-checkpoint"
MODEL_FORMAT = "ferapp-model"
WEIGHTS_FORMAT = "ferapp-weights"
MAX_FILE_BYTES = 25 * 1024 * 1024
HALF_MIN_NUMEL = 65536


@dataclass
class LoadedModel:
    """A ready-to-run model (eval mode) with its config and metadata.

    ``classify_probs(crops_uint8)`` works for single models and ensembles alike.
    """

    model: nn.Module
    cfg: ModelCfg
    meta: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    # where it came from: "shipped" or "user" (a model store), "file" (a folder or checkpoint given
    # by path elsewhere), "architecture" (a registered name: random weights); recorded in timelines
    source: str = "file"

    @property
    def name(self) -> str:
        return str(
            self.meta.get("name") or (self.path.name if self.path and self.path.is_dir() else self.cfg.name)
        )

    @property
    def packed_path(self) -> Path | None:
        """The folder's weight sidecar (P5: model.packed.npz), when its architecture declares one."""
        sidecar = weight_sidecar(self.cfg.name)
        if sidecar is not None and self.path is not None and (self.path / sidecar.filename).is_file():
            return self.path / sidecar.filename
        return None

    @property
    def int8_path(self) -> Path | None:
        """``int8.json`` of a model folder: the activation scales of its int8 CPU network
        (``ferapp.zoo.quantize``)."""
        if self.path is not None and self.path.is_dir() and (self.path / "int8.json").exists():
            return self.path / "int8.json"
        return None

    @property
    def has_int8(self) -> bool:
        """The folder ships an int8 CPU network: ``int8.onnx`` (onnxruntime) or ``int8.json`` (torch)."""
        from ferapp.zoo.onnx_net import int8_onnx_path

        return self.int8_path is not None or int8_onnx_path(self.path) is not None

    @property
    def trained(self) -> bool:
        return bool(self.meta.get("trained", True))

    def packed_model(self) -> LoadedModel:
        """The same model on its sidecar's own inference path (P5: 1-bit XNOR/popcount)."""
        path = self.packed_path
        if path is None:
            raise ValueError(
                f"{self.name}: no packed weights file (only the P5 binarized models have a packed form)"
            )
        module = weight_sidecar(self.cfg.name).fast_model(path, self.cfg)
        return LoadedModel(
            model=module, cfg=self.cfg, meta={**self.meta, "packed": True}, path=self.path, source=self.source
        )

    def classify_probs(self, crops) -> np.ndarray:
        from ferapp.zoo.predict import predict_probs

        return predict_probs(self.model, self.cfg, crops)


# ---------------------------------------------------------------------------- helpers
def _check_plain(obj: Any, where: str = "extra") -> None:
    if obj is None or isinstance(obj, (str, int, float, bool, torch.Tensor)):
        return
    if isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            _check_plain(v, f"{where}[{i}]")
        return
    if isinstance(obj, dict):
        for k, v in obj.items():
            if not isinstance(k, (str, int)):
                raise TypeError(f"{where}: key {k!r} is not str/int")
            _check_plain(v, f"{where}[{k!r}]")
        return
    raise TypeError(
        f"{where}: {type(obj).__name__} is not a plain type (dict/list/str/number/bool/None/Tensor)"
    )


def _atomic_torch_save(obj: Any, path: Path) -> None:
    """``torch.save`` that never leaves a torn file under ``path``: a temp file of this writer's own
    in the same folder (created O_EXCL|O_NOFOLLOW, so never another file or a link's target),
    flushed and fsynced, renamed over ``path``, the folder fsynced. A crash or SIGKILL leaves the
    previous file intact (and at most a stray dot-file)."""
    import secrets

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    try:
        dfd = os.open(path.parent, os.O_RDONLY)
    except OSError:  # a folder that cannot be opened (Windows): the rename is done, skip its fsync
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


def safe_torch_load(path: Path, map_location: str | torch.device = "cpu") -> Any:
    """``torch.load(weights_only=True)`` of a regular file (a FIFO cannot block it); FileNotFoundError,
    or CheckpointError that says why (pickled code is refused and never advised to be allowed)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no such checkpoint: {path}")
    try:
        f = open_regular(path)  # a FIFO named model.pt would block torch.load forever
    except OSError as exc:
        raise CheckpointError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    try:
        with f:
            return torch.load(f, map_location=map_location, weights_only=True)
    except Exception as exc:  # UnpicklingError (unsafe globals), truncated zip, garbage ...
        unsafe = (
            "weights_only" in str(exc)
            or "Unsupported global" in str(exc)
            or "UnpicklingError" in type(exc).__name__
        )
        why = (
            "it contains pickled Python objects or code, which ferapp never runs (weights are loaded "
            "with weights_only=True); re-save it with ferapp, or use a model from a source you trust "
            "through `ferapp train --init-from`"
            if unsafe
            else f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else 'unreadable'}; "
            "it may be truncated or not a PyTorch file"
        )
        raise CheckpointError(f"{path}: cannot be loaded as a ferapp weights file ({why})") from None


def _shape_mismatch(expected: dict[str, tuple[int, ...]], state_dict: dict[str, Any]) -> str:
    """What does not fit between the shapes a config builds and the weights ("" when all fit)."""
    problems = []
    missing = [k for k in expected if k not in state_dict]
    extra = [k for k in state_dict if k not in expected]
    if missing:
        problems.append(
            f"missing in the weights: {', '.join(missing[:3])}" + (" ..." if len(missing) > 3 else "")
        )
    if extra:
        problems.append(
            f"not in the network: {', '.join(map(str, extra[:3]))}" + (" ..." if len(extra) > 3 else "")
        )
    for k, shape in expected.items():
        t = state_dict.get(k)
        if t is not None and (not isinstance(t, torch.Tensor) or tuple(t.shape) != shape):
            got = list(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
            problems.append(f"{k} is {got} in the weights but {list(shape)} in the config")
            if len(problems) >= 3:
                break
    return "; ".join(problems)


def _build(cfg: ModelCfg, state_dict: dict[str, torch.Tensor], source: Path) -> nn.Module:
    if cfg.name not in list_models():
        raise CheckpointError(
            f"{source}: unknown architecture {cfg.name!r}; known: {', '.join(list_models())}"
        )
    try:  # the network's shapes, from the config alone, before a byte of it is allocated
        expected = check_model_args(cfg.name, cfg.kwargs)
    except ValueError as exc:
        raise CheckpointError(f"{source}: {exc}") from None
    mismatch = _shape_mismatch(expected, state_dict)
    if mismatch:
        raise CheckpointError(
            f"{source}: weights do not fit architecture {cfg.name!r} with {cfg.kwargs} ({mismatch})"
        )
    try:
        model = create_model(cfg.name, **cfg.kwargs)
    except Exception as exc:
        raise CheckpointError(f"{source}: cannot build {cfg.name!r} with {cfg.kwargs}: {exc}") from exc
    try:
        model.load_state_dict(state_dict, strict=True)
    except RuntimeError as exc:
        msg = str(exc).splitlines()
        raise CheckpointError(
            f"{source}: weights do not fit architecture {cfg.name!r} "
            f"({'; '.join(m.strip() for m in msg[:3])})"
        ) from exc
    model.cfg = cfg
    return model.eval()


# ------------------------------------------------------------------------ checkpoints
def save_checkpoint(
    path: str | Path, model: nn.Module, cfg: ModelCfg | None = None, extra: dict[str, Any] | None = None
) -> Path:
    """Self-describing training checkpoint (full fp32 state dict; ``extra`` must be plain types)."""
    cfg = cfg or model.cfg
    extra = dict(extra or {})
    _check_plain(extra)
    payload = {
        "format": CKPT_FORMAT,
        "version": 1,
        "arch": cfg.name,
        "cfg": cfg.to_dict(),
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "extra": extra,
    }
    path = Path(path)
    _atomic_torch_save(payload, path)
    return path


def load_checkpoint(
    path: str | Path, map_location: str | torch.device = "cpu"
) -> tuple[nn.Module, ModelCfg, dict[str, Any]]:
    """-> (model in eval mode, cfg, extra). Raises CheckpointError for unusable files."""
    path = Path(path)
    obj = safe_torch_load(path, map_location)
    if not isinstance(obj, dict) or obj.get("format") != CKPT_FORMAT or "state_dict" not in obj:
        raise CheckpointError(
            f"{path}: not a ferapp checkpoint (expected a dict with format={CKPT_FORMAT!r}; "
            "a bare state_dict or another program's file cannot be loaded)"
        )
    try:
        cfg = ModelCfg.from_dict(obj["cfg"])
    except Exception as exc:
        raise CheckpointError(f"{path}: bad model config in checkpoint: {exc}") from exc
    if obj.get("arch") not in (None, cfg.name):
        raise CheckpointError(f"{path}: arch {obj.get('arch')!r} disagrees with its config {cfg.name!r}")
    model = _build(cfg, obj["state_dict"], path)
    return model, cfg, dict(obj.get("extra") or {})


# ---------------------------------------------------------------------- model folders
def _to_storage(t: torch.Tensor, half: bool) -> torch.Tensor:
    t = t.detach().cpu()
    if half and t.is_floating_point() and t.dtype == torch.float32 and t.numel() > HALF_MIN_NUMEL:
        h = t.half()
        lost = (h == 0) & (t != 0)  # keep signs of tiny values (sign matters to some layers)
        if lost.any():
            h[lost] = torch.where(t[lost] > 0, 2.0**-24, -(2.0**-24)).half()
        return h
    return t.clone()


def save_model_dir(
    directory: str | Path,
    model: nn.Module,
    cfg: ModelCfg | None = None,
    meta: dict[str, Any] | None = None,
    half: bool = True,
) -> Path:
    """Write config.json + model.pt (+ the architecture's weight sidecar, P5: model.packed.npz).
    Every file must stay < 25 MB."""
    cfg = cfg or model.cfg
    meta = dict(meta or {})
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    sidecar = weight_sidecar(cfg.name)
    side_keys = sidecar.keys(model) if sidecar is not None else []
    sd = {k: _to_storage(v, half) for k, v in model.state_dict().items() if k not in side_keys}
    written = []
    if side_keys:
        for k, v in sidecar.save(model, directory / sidecar.filename).items():
            meta.setdefault(k, v)
        written.append(directory / sidecar.filename)
    _atomic_torch_save(
        {
            "format": WEIGHTS_FORMAT,
            "version": 1,
            "arch": cfg.name,
            "state_dict": sd,
            "packed_keys": side_keys,
        },
        directory / "model.pt",
    )
    written.append(directory / "model.pt")
    config = {"format": MODEL_FORMAT, "format_version": 1, "arch": cfg.name, **cfg.to_dict(), "meta": meta}
    _check_plain(config, "config")
    tmp = directory / "config.json.tmp"
    tmp.write_text(json.dumps(config, indent=2, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, directory / "config.json")
    for p in written:
        if p.stat().st_size >= MAX_FILE_BYTES:
            raise ValueError(
                f"{p} is {p.stat().st_size / 1e6:.1f} MB (limit 25 MB): use half=True or a smaller model"
            )
    return directory


def load_model_dir(directory: str | Path, _depth: int = 0, _budget: list[int] | None = None) -> LoadedModel:
    directory = Path(directory)
    raw, meta = read_config(directory)
    if "ensemble" in raw or "ensemble" in meta:
        from ferapp.zoo.store import load_ensemble

        return load_ensemble(directory, raw, meta, _depth=_depth, _budget=_budget)
    try:
        cfg = config_to_cfg(raw)
    except Exception as exc:
        raise CheckpointError(f"{directory}/config.json: bad model config: {exc}") from None
    obj = safe_torch_load(directory / "model.pt")
    if not isinstance(obj, dict) or obj.get("format") != WEIGHTS_FORMAT:
        raise CheckpointError(f"{directory}/model.pt: not a ferapp weights file (format {WEIGHTS_FORMAT!r})")
    sd = dict(obj["state_dict"])
    packed_keys = list(obj.get("packed_keys") or [])
    sidecar = weight_sidecar(cfg.name)
    if packed_keys and sidecar is not None:  # (without one, _build names the missing weights)
        packed = directory / sidecar.filename
        if not packed.is_file():
            raise CheckpointError(f"{directory}: {sidecar.filename} missing (holds the binarized weights)")
        weights = sidecar.load(packed)
        for k in packed_keys:
            if k not in weights:
                raise CheckpointError(f"{packed}: no weights for layer {k.removesuffix('.weight')!r}")
            sd[k] = weights[k]
    model = _build(cfg, sd, directory)
    meta.setdefault("name", directory.name)
    return LoadedModel(model=model, cfg=cfg, meta=meta, path=directory)


__all__ = [
    "CheckpointError",
    "LoadedModel",
    "save_checkpoint",
    "load_checkpoint",
    "save_model_dir",
    "load_model_dir",
    "read_config",
    "config_to_cfg",
    "MAX_FILE_BYTES",
]
