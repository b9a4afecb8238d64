"""Step cache: each pipeline step writes into its own folder, keyed by a hash of its inputs and
settings, so a re-run after a crash (or after changing a later step) resumes where it stopped."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tomoml.errors import OutputError

STEP_FILE = "step.json"


def file_checksum(path: str | os.PathLike, *, chunk: int = 1 << 22) -> str:
    """SHA-256 of a file (or of every file below a folder, e.g. a Zarr store)."""
    p = Path(path)
    h = hashlib.sha256()
    files = sorted(q for q in p.rglob("*") if q.is_file()) if p.is_dir() else [p]
    for q in files:
        with open(q, "rb") as f:
            while block := f.read(chunk):
                h.update(block)
    return h.hexdigest()


def settings_key(*parts: Any) -> str:
    """A short stable hash of JSON-serialisable parts (settings, upstream keys, checksums)."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


@dataclass
class StepResult:
    """What one step produced: files in its folder, small facts, its time."""

    name: str
    key: str
    folder: Path
    files: dict[str, str] = field(default_factory=dict)  # role -> file name in folder
    info: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    cached: bool = False

    def path(self, role: str) -> Path:
        return self.folder / self.files[role]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "key": self.key, "folder": str(self.folder),
                "files": self.files, "info": self.info, "seconds": round(self.seconds, 3),
                "cached": self.cached}


def run_cached(folder: Path, name: str, key: str,
               compute: Callable[[Path], tuple[dict[str, str], dict[str, Any]]],
               *, force: bool = False) -> StepResult:
    """Run ``compute(tmp_folder) -> (files, info)`` unless ``folder`` already holds this key.

    The step is built in a temporary sibling folder and renamed into place when complete, so a
    crash never leaves a half step that a later run would trust.
    """
    record = folder / STEP_FILE
    if record.exists():
        try:
            old = json.loads(record.read_text())
        except (OSError, json.JSONDecodeError):
            old = {}
        if old.get("key") == key and all((folder / f).exists() for f in old.get("files", {}).values()):
            return StepResult(name, key, folder, old["files"], old.get("info", {}),
                              old.get("seconds", 0.0), cached=True)
        if not force:
            raise OutputError(
                f"{folder}: holds results of this step made from other inputs or settings; "
                "use --force to replace them or choose another output folder")
    tmp = folder.with_name(f".{folder.name}.{uuid.uuid4().hex[:8]}.tmp")
    tmp.mkdir(parents=True)
    t0 = time.perf_counter()
    try:
        files, info = compute(tmp)
        seconds = time.perf_counter() - t0
        (tmp / STEP_FILE).write_text(json.dumps(
            {"name": name, "key": key, "files": files, "info": info, "seconds": seconds},
            indent=2, default=str))
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return StepResult(name, key, folder, files, info, seconds, cached=False)
