"""Device and thread policy shared by inference, training and the GUI's device indicator."""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)


def configure_threads(threads: int | None = None) -> int:
    """Cap torch's intra-op threads so the UI keeps a core. Returns the count in effect.

    Default: ``settings().inference.torch_threads()`` (FERAPP_TORCH_THREADS, else cores - 1).
    """
    import torch

    from ferapp.config import settings

    if threads is None:
        threads = settings().inference.torch_threads()
    threads = max(1, int(threads))
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return threads


DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")  # every --device option (cuda:N is accepted too)
DEVICE_HELP = "auto (CUDA, then Apple MPS, then CPU), cpu, cuda, cuda:N or mps"


def mps_available() -> bool:
    """Apple's Metal GPU backend (macOS on Apple silicon or an AMD GPU, with an MPS build of torch)."""
    import torch

    backend = getattr(torch.backends, "mps", None)
    try:
        return bool(backend is not None and backend.is_available())
    except Exception:
        return False


def torch_build_is_cpu_only() -> bool:
    """True when the installed torch can only use the CPU, answered without importing torch
    (~3 CPU-s): its ``torch/version.py`` names no CUDA, ROCm or XPU build, and this is not a Mac
    on Apple silicon (whose torch wheels carry MPS). False when in doubt."""
    import importlib.util
    import platform

    if platform.system() == "Darwin" and platform.machine() == "arm64":
        return False
    try:
        spec = importlib.util.find_spec("torch")
        origin = spec.origin if spec is not None else None
        if origin is None:
            return False
        text = (Path(origin).parent / "version.py").read_text(encoding="utf-8")
    except (OSError, ImportError, ValueError):
        return False
    return version_text_is_cpu_only(text)


def version_text_is_cpu_only(text: str) -> bool:
    """``torch/version.py``'s text names its accelerator builds (``cuda``, ``hip``, ``xpu``) and
    each is ``None``: a CPU-only build. A file naming none of them is not trusted (False)."""
    import re

    builds = dict(re.findall(r"^(cuda|hip|rocm|xpu)\b[^=]*=\s*(.+)$", text, flags=re.M))
    return bool(builds) and all(v.strip().strip("'\"") in ("None", "") for v in builds.values())


def cpu_without_torch(device: str | None) -> bool:
    """True when ``resolve_device(device)`` is certainly the CPU, answered without importing torch:
    ``cpu``, or ``auto`` with a CPU-only torch build (``torch_build_is_cpu_only``)."""
    name = (device or "auto").strip().lower()
    return name == "cpu" or (name == "auto" and torch_build_is_cpu_only())


def resolve_device(device: str | None = "auto") -> str:
    """The one device rule (engine, trainer, ``ferapp eval``/``analyze``, the GUI's indicator):
    ``auto`` picks CUDA, then Apple MPS, then the CPU; an explicit accelerator that is not
    there is a RuntimeError with what to use instead; anything else a ValueError."""
    import torch

    name = (device or "auto").strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return "cuda"
        return "mps" if mps_available() else "cpu"
    if name == "cpu":
        return "cpu"
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise RuntimeError(
                "CUDA was requested but no CUDA device is available (use --device cpu or auto)"
            )
        index = name.partition(":")[2]
        if index and (not index.isdigit() or int(index) >= torch.cuda.device_count()):
            raise RuntimeError(
                f"no CUDA device {name!r}: this machine has {torch.cuda.device_count()} "
                f"(cuda:0..cuda:{torch.cuda.device_count() - 1})"
            )
        return name
    if name in ("mps", "mps:0"):
        if not mps_available():
            raise RuntimeError(
                "Apple MPS was requested but is not available (it needs macOS 12.3+ on Apple "
                "silicon or an AMD GPU and an MPS build of torch; use --device cpu or auto)"
            )
        return "mps"
    raise ValueError(f"unknown device {device!r} (use {DEVICE_HELP})")


def lacks_operation(exc: BaseException) -> bool:
    """True for an error that says the Apple MPS backend cannot do this: torch's
    NotImplementedError for an operation it lacks ("... is not currently implemented for the MPS
    device", "Could not run ... from the 'MPS' backend"), or a RuntimeError / TypeError naming
    MPS (a dtype it does not support, its memory exhausted, a build without it)."""
    return isinstance(exc, NotImplementedError) or (
        isinstance(exc, RuntimeError | TypeError) and "mps" in str(exc).lower()
    )


def first_line(exc: BaseException, limit: int = 160) -> str:
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return text if len(text) <= limit else text[: limit - 1] + "…"


def with_cpu_fallback(device: str, run, what: str):
    """``run(device)``; when ``device`` is Apple MPS and an operation is missing there, log one
    line saying so and return ``run("cpu")`` instead. Returns (device used, result, message or
    None). Other errors, and any error on CUDA or the CPU, propagate: a user who asked for CUDA
    gets the failure, not a silent slow run. (PyTorch's own per-operation fallback,
    ``PYTORCH_ENABLE_MPS_FALLBACK=1``, is set by ``ferapp/__init__.py`` on macOS; this catches
    what it cannot: the variable turned off, or torch imported before ferapp.)"""
    try:
        return device, run(device), None
    except Exception as e:
        if not str(device).startswith("mps") or not lacks_operation(e):
            raise
        msg = f"Apple MPS cannot run {what} ({first_line(e)}); using the CPU instead"
        log.warning(msg)
        return "cpu", run("cpu"), msg


def training_device(model, input_shape: tuple[int, ...], device: str) -> tuple[str, str | None]:
    """``device`` when one forward + backward pass of (a copy of) ``model`` on a batch of two
    ``input_shape`` inputs runs there; on Apple MPS lacking an operation, ("cpu", message)
    (``with_cpu_fallback``). Only MPS is probed: CUDA and the CPU are returned as they are."""
    if not str(device).startswith("mps"):
        return device, None
    import copy

    import torch

    def step(dev: str) -> None:
        if dev == "cpu":
            return
        net = copy.deepcopy(model).to(dev).train()
        out = net(torch.zeros(2, *input_shape, device=dev))
        out.float().sum().backward()

    used, _, msg = with_cpu_fallback(device, step, "this training run")
    return used, msg


def cpu_has_bf16() -> bool:
    """True on CPUs with native bf16 matmul/conv support (AVX512-BF16 or AMX)."""
    import torch

    try:
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except AttributeError:
        return False


def cpu_name() -> str:
    """The CPU model ("model name" of /proc/cpuinfo on Linux; platform's guess elsewhere): the
    one place that reads it (status bar, model cards, run reports, bench, model table)."""
    import platform

    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


_ISA_FLAGS = (
    ("avx512_vnni", "AVX512-VNNI"),
    ("avx512_bf16", "AVX512-BF16"),
    ("amx_tile", "AMX"),
    ("avx512f", "AVX-512"),
    ("avx_vnni", "AVX-VNNI"),
    ("avx2", "AVX2"),
    ("fma", "FMA"),
)


def cpu_features() -> str:
    """The vector units the CPU figures depend on, e.g. "AVX2, FMA; no AVX-512; torch kernels
    AVX2": the ISA flags of /proc/cpuinfo (Linux), torch's dispatch level
    (``torch.backends.cpu.get_cpu_capability``), and ``ONEDNN_MAX_CPU_ISA`` when it caps oneDNN."""
    import torch

    flags: set[str] = set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.lower().startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    break
    except OSError:
        pass
    parts = []
    if flags:
        have = [label for flag, label in _ISA_FLAGS if flag in flags]
        parts.append(", ".join(have) if have else "no AVX2")
        if "avx512f" not in flags:
            parts.append("no AVX-512")
    try:
        parts.append(f"torch kernels {torch.backends.cpu.get_cpu_capability()}")
    except Exception:
        pass
    cap = os.environ.get("ONEDNN_MAX_CPU_ISA") or os.environ.get("DNNL_MAX_CPU_ISA")
    if cap:
        parts.append(f"ONEDNN_MAX_CPU_ISA={cap}")
    return "; ".join(parts) or "unknown"


def device_description(device: str, threads: int | None = None, runtime: str = "torch") -> str:
    """Human-readable name for the status bar / cards: CUDA GPU name, Apple MPS or CPU model.
    ``threads`` / ``runtime``: the CPU threads of the engine's runtime (given, torch is not
    imported for the CPU: an onnxruntime engine runs without it)."""
    if device.startswith("cuda"):
        import torch

        if torch.cuda.is_available():
            return f"CUDA: {torch.cuda.get_device_name(torch.device(device))}"
    if device.startswith("mps"):
        return "MPS: Apple GPU (Metal)"
    if threads is None:
        import torch

        threads = torch.get_num_threads()
    return f"CPU: {cpu_name()} ({os.cpu_count()} cores, {threads} {runtime} threads)"
