"""Network files: a torch ``state_dict`` (``MODEL.pt``) beside a JSON sidecar (``MODEL.json``).

One format for every model tomoml writes (denoising, segmentation): the sidecar names the
format and its version, the architecture and whatever the stage needs to apply the network;
the weights file holds tensors only (loaded with ``weights_only=True``, so a model file cannot
run code). Both files are written atomically and never overwritten without ``force``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tomoml.errors import InputError, OutputError
from tomoml.io._atomic import atomic_path

__all__ = ["save_network", "read_sidecar", "load_weights"]


def save_network(network, pt: Path, sidecar: dict[str, Any], *, force: bool = False,
                 checksum: bool = False, default: Callable | None = None) -> Path:
    """Write ``pt`` (the network's ``state_dict`` on the CPU) and its ``.json`` sidecar.

    Parameters
    ----------
    network : torch.nn.Module
    pt : Path
        The weights file; the sidecar is ``pt.with_suffix(".json")``.
    sidecar : dict
        The sidecar's content.
    force : bool
        Overwrite existing files; without it, an existing weights file or sidecar is an
        :class:`~tomoml.errors.OutputError` before anything is written.
    checksum : bool
        Add ``"weights": {"file", "sha256"}`` to the sidecar.
    default : callable, optional
        ``json.dumps``'s ``default`` for values JSON does not know.
    """
    import torch

    pt = Path(pt)
    js = pt.with_suffix(".json")
    if not force:
        for p in (pt, js):
            if p.exists():
                raise OutputError(f"{p}: output exists; use --force to overwrite it")
    state = {k: v.detach().to("cpu") for k, v in network.state_dict().items()}
    with atomic_path(pt, force=force) as tmp:
        torch.save(state, tmp)
    meta = dict(sidecar)
    if checksum:
        meta["weights"] = {"file": pt.name, "sha256": _sha256(pt)}
    with atomic_path(js, force=force) as tmp:
        tmp.write_text(json.dumps(meta, indent=2, default=default) + "\n")
    return pt


def read_sidecar(pt: Path, *, fmt: str, version: int, what: str) -> dict[str, Any]:
    """Check that ``pt`` and its sidecar exist and read the sidecar of format ``fmt``.

    ``what`` names the model in the messages (e.g. ``"denoising model"``).

    Raises
    ------
    InputError
        A missing file, an unreadable sidecar, another format or a newer format version.
    """
    pt = Path(pt)
    js = pt.with_suffix(".json")
    for p, part in ((pt, "weights"), (js, "sidecar")):
        if not p.is_file():
            raise InputError(f"{p}: no such file ({what} {part}; a tomoml model is MODEL.pt + "
                             "MODEL.json)")
    try:
        meta = json.loads(js.read_text())
    except (OSError, ValueError) as exc:
        raise InputError(f"{js}: not a readable JSON sidecar ({exc})") from exc
    if meta.get("format") != fmt:
        raise InputError(f"{js}: not a tomoml {what} (format {meta.get('format')!r})")
    if int(meta.get("format_version", 0)) > version:
        raise InputError(f"{js}: written by a newer tomoml (format {meta['format_version']}); "
                         "upgrade tomoml")
    return meta


def load_weights(network, pt: Path):
    """Load the ``state_dict`` in ``pt`` into ``network``; return it in eval mode.

    Raises
    ------
    InputError
        The weights do not fit the network built from the sidecar.
    """
    import torch

    pt = Path(pt)
    try:
        state = torch.load(pt, map_location="cpu", weights_only=True)
        network.load_state_dict(state)
    except Exception as exc:  # noqa: BLE001 - torch raises several types
        raise InputError(f"{pt}: weights do not match the architecture in "
                         f"{pt.with_suffix('.json').name} ({type(exc).__name__}: {exc})") from exc
    network.eval()
    return network


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
