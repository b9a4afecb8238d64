"""Adapter to tomopy's reconstructions (gridrec, SIRT, TV, ...), used when tomopy is installed.

tomopy's slice orientation and angle convention differ from tomoml's; rather than hard-code
them, the adapter reconstructs two off-centre points in tomoml's geometry once per angle set and
picks the flip/transpose that puts them where they belong, so the result obeys CONVENTIONS.md
whatever the tomopy version; gridrec's intensity scale is matched to tomoml's FBP on the same
two points.
"""

from __future__ import annotations

import functools

import numpy as np

from tomoml.errors import BackendError, ConfigError

__all__ = ["tomopy_available", "tomopy_reconstruct"]

_FILTERS = {"ramp": "ramlak", "shepp-logan": "shepp", "cosine": "cosine", "hann": "hann"}
_ALGORITHMS = {"fbp": "gridrec", "wbp": "gridrec", "sirt": "sirt", "tv": "tv"}


def tomopy_available() -> bool:
    try:
        import tomopy  # noqa: F401
    except ImportError:
        return False
    return True


def _dihedral(a: np.ndarray, k: int) -> np.ndarray:
    """The ``k``-th of the 8 flips/rotations of the last two axes."""
    if k >= 4:
        a = np.swapaxes(a, -1, -2)
    return np.rot90(a, k % 4, axes=(-2, -1))


def _run(data, angles_deg, algorithm, filter_name, iterations):
    import tomopy

    kw = {"algorithm": algorithm, "center": (data.shape[2] - 1) / 2, "sinogram_order": False}
    if algorithm == "gridrec":
        kw["filter_name"] = filter_name
    else:
        kw["num_iter"] = int(iterations)
    return np.asarray(tomopy.recon(np.ascontiguousarray(data, dtype=np.float32),
                                   np.deg2rad(np.asarray(angles_deg, dtype=np.float64)), **kw),
                      dtype=np.float32)


@functools.lru_cache(maxsize=8)
def _orientation(angles: tuple[float, ...], n_det: int) -> tuple[int, float]:
    """(dihedral index, gridrec scale) mapping tomopy's slices onto tomoml's ``(z, x)`` slices."""
    from tomoml.reconstruct import forward_project

    c = (n_det - 1) // 2
    truth = np.zeros((n_det, 1, n_det), np.float32)
    dz1, dx1, dz2, dx2 = n_det // 5, n_det // 9 + 1, -(n_det // 8) - 1, n_det // 4
    truth[c + dz1, 0, c + dx1] = 1.0
    truth[c + dz2, 0, c + dx2] = 1.0
    proj = forward_project(truth, np.array(angles))
    rec = _run(proj, np.array(angles), "gridrec", "ramlak", 1)[0]
    best, best_score = 0, -np.inf
    for k in range(8):
        cand = _dihedral(rec, k)
        score = cand[c + dz1, c + dx1] + cand[c + dz2, c + dx2]
        if score > best_score:
            best, best_score = k, score
    # gridrec's intensity scale: least-squares match to tomoml's FBP of the same data
    from tomoml.data import TiltSeries
    from tomoml.reconstruct.api import reconstruct

    ours = reconstruct(TiltSeries(proj, np.array(angles)), "fbp", padding="zero").data[:, 0]
    cand = _dihedral(rec, best)
    denom = float(np.vdot(cand, cand))
    return best, float(np.vdot(ours, cand)) / denom if denom > 0 else 1.0


def tomopy_reconstruct(data: np.ndarray, angles_deg, nz: int, *, method: str = "fbp",
                       iterations: int = 50, filter: str = "ramp") -> np.ndarray:
    """Reconstruct aligned ``(n, ny, nx)`` projections with tomopy; returns ``(nz, ny, nx)``."""
    if not tomopy_available():
        raise BackendError("engine 'tomopy' was asked for but tomopy is not installed "
                           "(conda install -c conda-forge tomopy)")
    if method not in _ALGORITHMS:
        raise ConfigError(f"tomopy has no {method!r}; use one of {', '.join(_ALGORITHMS)}")
    n, ny, nx = data.shape
    if nz > nx:
        raise ConfigError(f"tomopy reconstructs square slices: thickness {nz} > width {nx}")
    k, scale = _orientation(tuple(float(a) for a in angles_deg), nx)
    rec = _run(data, angles_deg, _ALGORITHMS[method], _FILTERS.get(filter, "ramlak"), iterations)
    rec = _dihedral(rec, k)  # (ny, z, x)
    if _ALGORITHMS[method] == "gridrec":
        rec *= np.float32(scale)
    z0 = (nx - nz) // 2
    return np.ascontiguousarray(rec[:, z0:z0 + nz, :].transpose(1, 0, 2))
