"""One progress helper for every stage (tqdm: terminals and notebooks alike).

Bars show on an interactive terminal or notebook and stay silent in logs and CI; set
``TOMOML_PROGRESS=1`` to force them on or ``0`` to force them off.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def _disable() -> bool | None:
    flag = os.environ.get("TOMOML_PROGRESS", "").strip().lower()
    if flag in {"1", "true", "yes", "on"}:
        return False
    if flag in {"0", "false", "no", "off"}:
        return True
    return None  # tqdm: disable when not attached to a terminal


def track(iterable: Iterable[T], *, total: int | None = None, desc: str = "", unit: str = "it",
          leave: bool = False) -> Iterator[T]:
    """Iterate over ``iterable`` with a progress bar."""
    from tqdm.auto import tqdm

    return iter(tqdm(iterable, total=total, desc=desc, unit=unit, leave=leave,
                     disable=_disable(), dynamic_ncols=True))


def bar(*, total: int | None = None, desc: str = "", unit: str = "it", leave: bool = False):
    """A manual progress bar (``with bar(total=n) as b: b.update(); b.set_postfix(loss=...)``)."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, leave=leave, disable=_disable(),
                dynamic_ncols=True)
