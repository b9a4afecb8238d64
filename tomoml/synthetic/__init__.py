"""Synthetic data with ground truth: phantoms and simulated tilt series.

Phantoms (:mod:`tomoml.synthetic.phantoms`) give a density volume, phase labels and the known
answers (porosity, object counts, Euler number); :func:`simulate_tilt_series` projects a volume
in the CONVENTIONS.md geometry (via :func:`tomoml.reconstruct.forward_project`) and adds a
missing wedge, dose-limited Poisson noise with even/odd half-dose series, per-tilt drift, a
tilted axis and blur, keeping the true alignment.
"""

from tomoml.synthetic.phantoms import (
    PHANTOMS,
    Phantom,
    gyroid,
    make_phantom,
    porous_particle,
    sphere_pack,
    spinodal,
    sponge,
)
from tomoml.synthetic.simulate import (
    SIMULATION_FILES,
    SimulatedSeries,
    save_simulation,
    simulate_tilt_series,
    tilt_angles,
)

__all__ = [
    "PHANTOMS", "Phantom", "SIMULATION_FILES", "SimulatedSeries", "gyroid", "make_phantom",
    "porous_particle", "save_simulation", "simulate_tilt_series", "sphere_pack", "spinodal",
    "sponge", "tilt_angles",
]
