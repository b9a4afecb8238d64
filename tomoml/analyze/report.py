"""The metrics bundle: :func:`analyze` runs every metric and returns a :class:`MorphologyReport`
that writes JSON (metrics + units + definitions), CSV (one row per object) and a PNG of the
pore-size / solid-thickness distributions.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import time
import tracemalloc
from dataclasses import dataclass, field

import numpy as np

from tomoml._progress import track
from tomoml.analyze import particles as _particles
from tomoml.analyze.porosity import (
    as_labels,
    envelope_mask,
    local_thickness,
    pore_mask,
    porosity,
    solid_mask,
    thickness_distribution,
)
from tomoml.analyze.skeleton import skeleton_statistics
from tomoml.analyze.surfaces import DEFAULT_SMOOTHING_SIGMA, specific_surface_area
from tomoml.analyze.topology import (
    CONNECTIVITY,
    component_statistics,
    connected_components,
    connectivity_density,
    euler_characteristic,
    euler_number,
    label_components,
    percolation,
)
from tomoml.analyze.transport import (
    DIFFUSIVE_MAX_VOXELS,
    diffusive_tortuosity,
    geometric_tortuosity,
)
from tomoml.errors import ConfigError, InputError

__all__ = ["analyze", "MorphologyReport", "METRICS", "DEFINITIONS", "UNITS"]

log = logging.getLogger(__name__)

METRICS = ("porosity", "surface", "pore_size", "solid_thickness", "topology", "tortuosity",
           "diffusive_tortuosity", "skeleton", "particles")

UNITS = {
    "length": "nm", "area": "nm^2", "volume": "nm^3", "specific_surface": "nm^-1",
    "connectivity_density": "nm^-3", "voxel_size": "Å (input header convention)",
    "note": "keys end in their unit (_nm, _nm2, _nm3, _per_nm, _per_nm3); *_vox / *_voxels "
            "keys give the same quantity in voxel units",
}

DEFINITIONS = {
    "labels": "0 = pore/background, 1..N = solid phases; 'solid' is label `phase`, or every "
              "non-zero label when phase is null",
    "porosity": "pore voxels / (pore + solid voxels); voxels outside the envelope mask count as "
                "neither (porespy's convention)",
    "phase_fractions": "voxels of each label / voxels inside the envelope (the whole array "
                       "without an envelope)",
    "envelope": "closing: morphological closing of all material with a ball of radius "
                "envelope_radius_vox, holes filled; convex_hull: voxel centres inside the "
                "convex hull of the material; slab: between planes fitted to the specimen's top "
                "and bottom surfaces (a film or section; the vacuum above and below is out); "
                "null: the whole array",
    "surface_area": "marching cubes (VTK flying edges, the triangles of "
                    "skimage.measure.marching_cubes; level 0.5, voxel spacing) "
                    "on the phase mask smoothed by a Gaussian of smoothing_sigma_vox voxels; "
                    "sum of the triangle areas. Faces of the array (the cut) are not surface",
    "S_over_V_total": "surface area / total volume (envelope volume, or the whole array)",
    "S_over_V_phase": "surface area / volume of the phase itself",
    "local_thickness": "DIAMETER (2 r) of the largest ball of integer radius r (voxels) that "
                       "fits in the phase and covers the voxel: porespy.filters.local_thickness "
                       "(method 'dt', every integer radius) returns r in voxels; reported here "
                       "doubled as a diameter, like ImageJ/BoneJ; distributions are "
                       "volume-weighted (fraction of the phase's voxels)",
    "pore_size": "local thickness (diameter) of the pore phase inside the envelope",
    "solid_thickness": "local thickness (diameter) of the solid phase",
    "euler_characteristic": "chi = objects - tunnels + cavities, " + CONNECTIVITY
                            + " (skimage.measure.euler_number connectivity=3)",
    "connectivity_density": "Odgaard & Gundersen (1993) edge-corrected, as BoneJ Connectivity: "
                            "delta_chi = chi - [chi(X on faces)/2 + chi(X on edges)/4 + "
                            "chi(X on corners)/8]; connectivity = 1 - delta_chi; density = "
                            "connectivity / volume of the whole array",
    "components": "26-connected components of the phase",
    "percolation": "true along an axis when one 26-connected component touches both opposite "
                   "faces",
    "geometric_tortuosity": "mean over outlet-face voxels reached of (shortest in-phase path "
                            "length from the inlet face) / (straight distance n - 1 voxels); "
                            "path lengths by second-order fast marching (eikonal |grad T| = 1 "
                            "in the phase, 6-neighbour upwind scheme)",
    "diffusive_tortuosity": "porespy's tortuosity_fd definition: tau = eps_eff / D_eff, D_eff = "
                            "J (L - 1) / A from steady diffusion (c = 1 -> 0 between the first "
                            "and last slice) through the percolating part of the phase, "
                            "solved by tomoml (pyamg); on the central sub-volume named in "
                            "computed_on when the volume exceeds diffusive_max_voxels; a "
                            "different number from the geometric tortuosity",
    "sphericity": "pi^(1/3) (6 V)^(2/3) / A, V = voxel volume, A = marching-cubes area; "
                  "objects cut by the array faces (touches_border) have no surface counted on "
                  "the cut, so their area and sphericity describe the part inside",
    "equivalent_diameter": "(6 V / pi)^(1/3)",
    "skeleton": "skimage.morphology.skeletonize (Lee 3D) + skan: branch = path between nodes, "
                "junction = node of degree >= 3, branch length along the path",
    "axes": "z, y, x = array axes 0, 1, 2",
}


def _jsonable(obj):
    """Convert numpy scalars/arrays and NaN to plain JSON values."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.bool_ | bool):
        return bool(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating | float):
        v = float(obj)
        return None if not math.isfinite(v) else v
    return obj


@dataclass
class MorphologyReport:
    """Every metric of one label volume, with units and definitions.

    Attributes
    ----------
    voxel_size_A : float
    shape : tuple of int
    phase : int or None
        The solid label analysed (None = all non-zero labels).
    envelope : str or None
        How the envelope was obtained ("closing", "convex_hull", "given" or None).
    network : str
        Phase used for tortuosity and skeleton ("pore" or "solid").
    metrics : dict
        Section name -> result dict (see :data:`DEFINITIONS`).
    objects : dict of column -> list
        Per-object table (:data:`tomoml.analyze.particles.COLUMNS`).
    timings_s, cpu_timings_s : dict
        Wall and CPU seconds spent in each metric.
    peak_traced_GiB : dict
        Peak traced memory of each metric, filled only while ``tracemalloc`` is tracing.
    """

    voxel_size_A: float
    shape: tuple[int, int, int]
    phase: int | None
    envelope: str | None
    network: str
    metrics: dict = field(default_factory=dict)
    objects: dict = field(default_factory=dict)
    timings_s: dict = field(default_factory=dict)
    cpu_timings_s: dict = field(default_factory=dict)
    peak_traced_GiB: dict = field(default_factory=dict)
    source: str | None = None
    wall_s: float | None = None

    @property
    def voxel_size_nm(self) -> float:
        return self.voxel_size_A / 10.0

    def to_dict(self) -> dict:
        """Plain-JSON dictionary: metadata, units, definitions, metrics, objects summary."""
        n_obj = len(self.objects.get("label", []))
        return _jsonable({
            "tomoml_analysis_version": 1,
            "source": self.source,
            "shape_zyx": list(self.shape),
            "voxel_size_A": self.voxel_size_A,
            "voxel_size_nm": self.voxel_size_nm,
            "phase": self.phase,
            "envelope": self.envelope,
            "network_phase": self.network,
            "units": UNITS,
            "definitions": DEFINITIONS,
            "metrics": self.metrics,
            "objects": {"count": n_obj, "columns": list(_particles.COLUMNS)},
            "timings_s": self.timings_s,
            "cpu_timings_s": self.cpu_timings_s,
            "wall_s": self.wall_s,
        })

    def to_json(self, path: str | os.PathLike, *, force: bool = False) -> None:
        """Write the metrics JSON atomically."""
        from tomoml.io import atomic_path

        with atomic_path(path, force=force) as tmp:
            with open(tmp, "w", encoding="utf-8") as fh:
                json.dump(self.to_dict(), fh, indent=2, allow_nan=False)
                fh.write("\n")

    def to_csv(self, path: str | os.PathLike, *, force: bool = False) -> None:
        """Write the per-object table (one row per object) atomically."""
        from tomoml.io import atomic_path

        cols = list(_particles.COLUMNS)
        n = len(self.objects.get("label", []))
        with atomic_path(path, force=force) as tmp:
            with open(tmp, "w", newline="", encoding="utf-8") as fh:
                w = csv.writer(fh)
                w.writerow(cols)
                for i in range(n):
                    w.writerow([_csv_value(self.objects[c][i]) for c in cols])

    def plot(self, path: str | os.PathLike, *, force: bool = False) -> None:
        """PNG of the pore-size and solid-thickness distributions (diameters, volume-weighted)."""
        # A bare Figure renders with the Agg canvas: no pyplot, no global backend change.
        from matplotlib.figure import Figure

        from tomoml.io import atomic_path

        fig = Figure(figsize=(9, 3.6), dpi=120)
        panels = (("pore_size", "Pore size", "tab:blue"),
                  ("solid_thickness", "Solid thickness", "tab:orange"))
        for i, (key, title, colour) in enumerate(panels):
            ax = fig.add_subplot(1, 2, i + 1)
            dist = self.metrics.get(key)
            if not dist or not dist.get("diameter_nm"):
                ax.text(0.5, 0.5, "not computed", ha="center", va="center",
                        transform=ax.transAxes)
            else:
                d = np.asarray(dist["diameter_nm"])
                width = 2 * self.voxel_size_nm * 0.8
                ax.bar(d, dist["volume_fraction"], width=width, color=colour)
                if dist.get("mean_nm") is not None:
                    ax.axvline(dist["mean_nm"], color="k", ls="--", lw=1,
                               label=f"mean {dist['mean_nm']:.3g} nm")
                    ax.legend(frameon=False)
            ax.set_title(f"{title} (local thickness, diameter)")
            ax.set_xlabel("diameter (nm)")
            ax.set_ylabel("volume fraction of phase")
        fig.tight_layout()
        with atomic_path(path, force=force) as tmp:
            fig.savefig(tmp, format="png")


def _csv_value(v):
    if isinstance(v, float):
        return "" if not math.isfinite(v) else repr(v)
    return "" if v is None else v


def _resolve_metrics(metrics) -> tuple[str, ...]:
    if metrics is None or metrics == "all":
        return METRICS
    if isinstance(metrics, str):
        metrics = [m.strip() for m in metrics.split(",") if m.strip()]
    bad = [m for m in metrics if m not in METRICS]
    if bad:
        raise ConfigError(f"metrics: unknown {bad}; choose from {', '.join(METRICS)}")
    return tuple(m for m in METRICS if m in metrics)


def analyze(labels, *, voxel_size_A: float | None = None, phase: int | None = None,
            envelope: str | np.ndarray | None = None, envelope_radius_vox: int = 5,
            metrics=None, instances: np.ndarray | None = None, network: str = "pore",
            smoothing_sigma: float = DEFAULT_SMOOTHING_SIGMA,
            diffusive_max_voxels: int | None = DIFFUSIVE_MAX_VOXELS,
            workers: int | None = None,
            source: str | None = None) -> MorphologyReport:
    """Morphology of a label volume: porosity, surfaces, sizes, topology, transport, objects.

    Parameters
    ----------
    labels : (z, y, x) ndarray of int, or tomoml.data.Volume
        0 = pore/background, 1..N = phases.
    voxel_size_A : float
        Voxel size in ångström (taken from a Volume when not given).
    phase : int, optional
        The solid label to analyse; None = every non-zero label together.
    envelope : {"closing", "convex_hull", "slab"} or (z, y, x) bool ndarray or None
        Region the porosity and pore metrics are counted in (None = whole array).
    envelope_radius_vox : int
        Closing radius for ``envelope="closing"``.
    metrics : sequence of str or "all"
        Subset of :data:`METRICS`.
    instances : (z, y, x) ndarray of int, optional
        Instance labels for the per-object table; default: 26-connected components of the solid.
    network : {"pore", "solid"}
        Phase for tortuosity and the skeleton.
    smoothing_sigma : float
        Gaussian sigma (voxels) before marching cubes (0 = raw binary mesh).
    diffusive_max_voxels : int or None
        The diffusive tortuosity of a larger volume is solved on its central sub-volume of
        this many voxels (named in the result); None: the whole volume, however long it takes.
    workers : int, optional
        Metrics computed at the same time, in threads (their heavy parts release the GIL);
        default: the number of CPU cores, at most 2. Memory is the sum of the metrics
        running together (about 2 GiB each at 512³); ``workers=1`` runs them one by one.

    Returns
    -------
    MorphologyReport

    Examples
    --------
    >>> report = analyze(labels, voxel_size_A=8.0, envelope="closing")  # doctest: +SKIP
    >>> report.metrics["porosity"]["porosity"]  # doctest: +SKIP
    >>> report.to_json("metrics.json")  # doctest: +SKIP
    """
    if voxel_size_A is None:
        voxel_size_A = getattr(labels, "voxel_size_A", None)
        if voxel_size_A is None:
            raise ConfigError("voxel_size_A: give the voxel size in ångström")
    source = source or getattr(labels, "source", None)
    voxel_size_A = float(voxel_size_A)
    if not (math.isfinite(voxel_size_A) and voxel_size_A > 0):
        raise ConfigError(f"voxel_size_A must be > 0 Å, got {voxel_size_A}")
    if network not in ("pore", "solid"):
        raise ConfigError(f"network: choose 'pore' or 'solid', got {network!r}")
    lab = as_labels(labels)
    wanted = _resolve_metrics(metrics)

    env_name: str | None
    if envelope is None:
        env = None
        env_name = None
    elif isinstance(envelope, str):
        env = envelope_mask(lab, envelope, radius_vox=envelope_radius_vox)
        env_name = envelope
    else:
        env = np.asarray(envelope, dtype=bool)
        if env.shape != lab.shape:
            raise InputError(f"envelope shape {env.shape} != labels shape {lab.shape}")
        env_name = "given"

    report = MorphologyReport(voxel_size_A=voxel_size_A, shape=tuple(lab.shape), phase=phase,
                              envelope=env_name, network=network, source=source)
    solid = solid_mask(lab, phase, env)
    pores = pore_mask(lab, env)
    net = pores if network == "pore" else solid
    total = int(env.sum()) if env is not None else int(lab.size)
    vs = voxel_size_A
    m = report.metrics
    if env is not None:
        m["envelope"] = {"method": env_name, "voxels": total,
                         "volume_nm3": total * report.voxel_size_nm ** 3,
                         "radius_vox": envelope_radius_vox if env_name == "closing" else None}

    if workers is None:
        workers = min(os.cpu_count() or 1, 2)
    # the geometric tortuosity runs as one step per axis (about 20 s each at 512³), so that
    # the workers can balance them against the other metrics; joined into one section after
    tasks = [step for name in wanted
             for step in ([f"tortuosity_{a}" for a in "zyx"] if name == "tortuosity" else [name])]
    workers = max(1, min(int(workers), len(tasks)))
    # Process CPU time is shared by concurrent metrics: with several workers each metric's
    # CPU time is that of its own thread (library helper threads not counted).
    cpu_clock = time.process_time if workers == 1 else time.thread_time

    def run(name, fn):
        if tracemalloc.is_tracing() and workers == 1:  # a caller profiling memory: each peak
            tracemalloc.reset_peak()
        c0, t0 = cpu_clock(), time.perf_counter()
        fn()
        report.timings_s[name] = round(time.perf_counter() - t0, 3)
        report.cpu_timings_s[name] = round(cpu_clock() - c0, 3)
        if tracemalloc.is_tracing():
            report.peak_traced_GiB[name] = round(tracemalloc.get_traced_memory()[1] / 2 ** 30, 3)
        log.info("analyze: %s took %.2f s", name, report.timings_s[name])

    def do_porosity():
        m["porosity"] = porosity(lab, envelope=env)

    def do_surface():
        m["surface"] = specific_surface_area(solid, vs, total_voxels=total,
                                             smoothing_sigma=smoothing_sigma)

    def do_pore_size():
        m["pore_size"] = thickness_distribution(pores, vs, diameters_vox=local_thickness(pores))

    def do_solid_thickness():
        m["solid_thickness"] = thickness_distribution(solid, vs,
                                                      diameters_vox=local_thickness(solid))

    comp_labels = {}

    def do_topology():
        topo = {}
        work = np.empty(lab.shape, np.int32)  # the complement's labels, for both phases
        for name, mask in (("solid", solid), ("pore", pores)):
            lab_cc, sizes = label_components(mask)
            comps = component_statistics(sizes, vs)
            chi = euler_number(mask)
            entry = euler_characteristic(mask, objects=comps["count"], chi=chi, work=work)
            entry.update({k: v for k, v in connectivity_density(mask, vs, chi=chi).items()
                          if k != "euler_characteristic"})
            entry["components"] = comps
            entry["percolation"] = percolation(mask, component_labels=lab_cc, sizes=sizes)
            topo[name] = entry
            if name == "solid":
                comp_labels["solid"] = lab_cc
        m["topology"] = topo

    geometric: dict = {}

    def tortuosity_along(axis):
        def step():
            geometric[axis] = geometric_tortuosity(net, axis)

        return step

    def do_diffusive():
        diffusive = {a: diffusive_tortuosity(net, a, max_voxels=diffusive_max_voxels)
                     for a in "zyx"}
        m["diffusive_tortuosity"] = {"phase": network, **diffusive}

    def do_skeleton():
        m["skeleton"] = {"phase": network, **skeleton_statistics(net, vs)}

    def do_particles():
        if instances is not None:
            objs = as_labels(instances)
            if objs.shape != lab.shape:
                raise InputError(f"instances shape {objs.shape} != labels shape {lab.shape}")
            kind = "given instance labels"
        else:
            objs = comp_labels.get("solid")
            if objs is None:
                objs = connected_components(solid, vs, return_labels=True)[1]
            kind = "26-connected components of the solid"
        known = None
        if instances is None and "surface" in m and int(objs.max(initial=0)) == 1:
            # One component = the whole solid: its surface is the phase's, already meshed.
            known = {1: m["surface"]["surface_area_vox2"]}
        report.objects = _particles.particle_table(objs, vs, smoothing_sigma=smoothing_sigma,
                                                   areas_vox2=known)
        sph = [s for s in report.objects["sphericity"] if s is not None]
        vols = report.objects["volume_nm3"]
        m["particles"] = {"objects": kind, "count": len(vols),
                          "mean_volume_nm3": float(np.mean(vols)) if vols else None,
                          "mean_equivalent_diameter_nm":
                              float(np.mean(report.objects["equivalent_diameter_nm"]))
                              if vols else None,
                          "mean_sphericity": float(np.mean(sph)) if sph else None}

    steps = {"porosity": do_porosity, "surface": do_surface, "pore_size": do_pore_size,
             "solid_thickness": do_solid_thickness, "topology": do_topology,
             "diffusive_tortuosity": do_diffusive,
             "skeleton": do_skeleton, "particles": do_particles}
    steps.update({f"tortuosity_{a}": tortuosity_along(a) for a in "zyx"})
    t_start = time.perf_counter()
    if workers == 1:
        for name in track(tasks, desc="analyze", unit="step"):
            run(name, steps[name])
    else:
        _run_concurrently(tasks, steps, run, workers)
    if "tortuosity" in wanted:
        m["tortuosity"] = {"phase": network, "geometric": {a: geometric[a] for a in "zyx"}}
        # the three solves' own times added up (with workers, some ran side by side), the
        # largest peak
        for table, join in ((report.timings_s, sum), (report.cpu_timings_s, sum),
                            (report.peak_traced_GiB, max)):
            parts = [table.pop(f"tortuosity_{a}") for a in "zyx" if f"tortuosity_{a}" in table]
            if parts:
                table["tortuosity"] = round(join(parts), 3)
    for attr in ("timings_s", "cpu_timings_s", "peak_traced_GiB"):  # in the order asked
        table = getattr(report, attr)
        setattr(report, attr, {k: table[k] for k in wanted if k in table})
    report.metrics = {k: m[k] for k in [*_SECTION_ORDER, *m] if k in m}  # stable key order
    report.wall_s = round(time.perf_counter() - t_start, 3)
    return report


# The longest first, so that two workers finish together (512³ gyroid timings).
_COST_ORDER = ("skeleton", "tortuosity_z", "tortuosity_y", "tortuosity_x", "pore_size",
               "solid_thickness", "diffusive_tortuosity", "topology", "surface", "porosity",
               "particles")
_SECTION_ORDER = ("envelope", "porosity", "surface", "pore_size", "solid_thickness", "topology",
                  "tortuosity", "diffusive_tortuosity", "skeleton", "particles")


def _run_concurrently(tasks, steps, run, workers: int) -> None:
    """Run the metric steps in a thread pool; particles waits for topology and surface
    (it reuses the solid's component labels and, for one component, the phase's area)."""
    from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

    from tomoml._progress import bar

    first = [n for n in _COST_ORDER if n in tasks and n != "particles"]
    with ThreadPoolExecutor(workers) as pool, bar(total=len(tasks), desc="analyze",
                                                  unit="step") as progress:
        futures = {pool.submit(run, n, steps[n]): n for n in first}
        pending_particles = "particles" in tasks
        while futures:
            done, _ = wait(futures, return_when=FIRST_COMPLETED)
            for f in done:
                futures.pop(f)
                f.result()  # re-raise a metric's error here
                progress.update()
            busy = set(futures.values())
            if pending_particles and not busy & {"topology", "surface"}:
                futures[pool.submit(run, "particles", steps["particles"])] = "particles"
                pending_particles = False
