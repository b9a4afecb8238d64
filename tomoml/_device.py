"""Device selection in one place: ``"auto"`` resolves once to ``"cuda"`` or ``"cpu"``."""

from __future__ import annotations

import functools

from tomoml.errors import BackendError

DEVICES = ("auto", "cpu", "cuda")


@functools.lru_cache(maxsize=1)
def torch_cuda_available() -> bool:
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return False
    return bool(torch.cuda.is_available())


@functools.lru_cache(maxsize=1)
def astra_cuda_available() -> bool:
    try:
        import astra
    except ImportError:  # pragma: no cover - astra is a dependency
        return False
    try:
        return bool(astra.use_cuda())
    except Exception:  # astra raises various errors when no driver is present
        return False


def resolve_device(device: str = "auto", *, engine: str = "torch") -> str:
    """Return ``"cuda"`` or ``"cpu"`` for the requested ``device``.

    Parameters
    ----------
    device : {"auto", "cpu", "cuda"}
        ``"auto"`` picks CUDA when the engine can use a GPU here, else the CPU.
    engine : {"torch", "astra"}
        Which library will run on the device (their CUDA support is detected separately).
    """
    if device not in DEVICES:
        raise BackendError(f"device must be one of {', '.join(DEVICES)}, got {device!r}")
    available = astra_cuda_available() if engine == "astra" else torch_cuda_available()
    if device == "auto":
        return "cuda" if available else "cpu"
    if device == "cuda" and not available:
        raise BackendError(
            f"--device cuda was asked for but no CUDA GPU is usable by {engine} on this machine; "
            "use --device cpu or auto"
        )
    return device
