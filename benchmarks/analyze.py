"""Benchmark: full morphology analysis of a large label volume, per metric, with references.

A gyroid sponge (porosity 0.5, period ``--period`` voxels) is analysed by one
``tomoml.analyze.analyze`` call (as a user would run it); the report's per-metric wall and CPU
times and per-metric peak traced memory (``tracemalloc``: numpy reports its buffers to it) are
printed. The process's peak
resident memory (``resource.getrusage``) is printed at the end.

References in the same process, where tomoml wraps or replaces a library routine:
- Euler characteristic: tomoml's slice-wise cell count vs ``skimage.measure.euler_number``;
- surface area: tomoml's slab-chunked smoothed marching cubes vs one unchunked
  ``skimage.measure.marching_cubes`` + ``mesh_surface_area`` on the whole smoothed volume;
- local thickness: tomoml (porespy ``dt`` with uint8 indices) vs porespy's default call
  (float output).
References run on ``--ref-size`` (default 128^3) to keep the run short.

The machine is shared by several processes: wall times are noisy (the 1-minute load average is
printed), so CPU seconds (``time.process_time``) are printed beside them: the libraries used
are single-threaded, so CPU time is close to the wall time on an unloaded core.

Timed set: every metric (``--skip`` leaves some out; they are then timed on ``--ref-size``),
with ``analyze``'s default of two metric threads (``--workers``). The diffusive tortuosity is
solved on the central 128³ sub-volume (``analyze``'s default ``diffusive_max_voxels``).

More references at ``--ref-size``: tomoml's fast marching vs scikit-fmm (order 2) for the
geometric tortuosity, and tomoml's diffusive-tortuosity solver vs
``porespy.simulations.tortuosity_fd`` (when OpenPNM is installed), each along z, with values.

    python benchmarks/analyze.py                  # 512^3, about 2 minutes of analysis
    python benchmarks/analyze.py --size 128       # a smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
import tracemalloc

import numpy as np


def gyroid_labels(n: int, period: float) -> np.ndarray:
    """uint8 gyroid (solid = 1) built slab by slab in float32; porosity 0.5 by symmetry."""
    k = np.float32(2 * np.pi / period)
    a = np.arange(n, dtype=np.float32) * k
    sy, cy = np.sin(a)[:, None], np.cos(a)[:, None]
    sx, cx = np.sin(a)[None, :], np.cos(a)[None, :]
    out = np.empty((n, n, n), np.uint8)
    for z in range(n):
        sz, cz = np.sin(a[z]), np.cos(a[z])
        f = sx * cy + sy * cz + sz * cx
        out[z] = f > 0
    return out


_CPU: list[float] = []  # CPU seconds of the last timed() call


def timed(fn, *args, **kwargs):
    """Run ``fn``: result, wall seconds, peak traced GiB; CPU seconds go to ``_CPU[-1]``."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    c0, t0 = time.process_time(), time.perf_counter()
    result = fn(*args, **kwargs)
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    _CPU.append(cpu)
    return result, dt, peak / 2 ** 30


def main() -> None:
    from tomoml.analyze import METRICS, analyze

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--period", type=float, default=32.0)
    ap.add_argument("--ref-size", type=int, default=128)
    ap.add_argument("--skip", default="",
                    help="metrics left out of the timed set (comma-separated)")
    ap.add_argument("--workers", type=int, default=None,
                    help="metrics at once (analyze's default: the cores, at most 2)")
    ap.add_argument("--no-reference", action="store_true")
    ap.add_argument("--json", help="write the figures to this JSON file")
    args = ap.parse_args()

    skip = {s for s in args.skip.split(",") if s}
    timed_set = [m for m in METRICS if m not in skip]
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    # Imports and numba JIT (porespy, skan) cost a one-off ~10-40 s per process: pay it first.
    import porespy as ps

    c0, t0 = time.process_time(), time.perf_counter()
    tiny = gyroid_labels(24, 12)
    analyze(tiny, voxel_size_A=10.0, metrics=METRICS)
    ps.filters.local_thickness(tiny.astype(bool))
    print(f"warm-up (imports, JIT) on 24^3: wall {time.perf_counter() - t0:.1f} s, "
          f"cpu {time.process_time() - c0:.1f} s (not counted below)", flush=True)
    labels = gyroid_labels(args.size, args.period)
    n = args.size
    print(f"gyroid {n}^3, period {args.period:g} voxels, porosity "
          f"{1 - labels.mean():.4f}; timed set: {', '.join(timed_set)}")
    tracemalloc.start()
    report = analyze(labels, voxel_size_A=10.0, metrics=timed_set,  # one call, as a user would
                     workers=args.workers)
    tracemalloc.stop()
    rows = [{"metric": k, "size": n, "wall_s": report.timings_s[k],
             "cpu_s": report.cpu_timings_s[k], "peak_traced_GiB": report.peak_traced_GiB[k]}
            for k in METRICS if k in report.timings_s]
    for r in rows:
        print(f"  {r['metric']:22s} wall {r['wall_s']:7.2f} s  cpu {r['cpu_s']:7.2f} s  "
              f"peak traced {r['peak_traced_GiB']:5.2f} GiB", flush=True)
    total, total_cpu = report.wall_s, sum(r["cpu_s"] for r in rows)
    print(f"TOTAL {n}^3 timed set: wall {total:.1f} s (sum of the metrics' own times "
          f"{sum(r['wall_s'] for r in rows):.1f} s; target <= 120 s); load now "
          f"{os.getloadavg()[0]:.1f}")
    for a in "zyx":
        g = report.metrics.get("tortuosity", {}).get("geometric", {}).get(a, {})
        d = report.metrics.get("diffusive_tortuosity", {}).get(a, {})
        if g or d:
            print(f"  tortuosity {a}: geometric {g.get('tortuosity')}, diffusive "
                  f"{d.get('tortuosity')} on {d.get('computed_on')}")
    results = {"size": n, "period": args.period, "timed_set": timed_set, "rows": rows,
               "workers": args.workers, "total_wall_s": round(total, 1),
               "total_cpu_s": round(total_cpu, 1)}

    if not args.no_reference:
        from scipy import ndimage as ndi
        from skimage import measure

        from tomoml.analyze import euler_number, local_thickness, surface_area

        m = args.ref_size
        ref = gyroid_labels(m, args.period).astype(bool)
        print(f"references at {m}^3")
        refs = []
        for metric in sorted(skip):
            _, dt, peak = timed(analyze, ref.astype(np.uint8), voxel_size_A=10.0,
                                metrics=[metric])
            refs.append({"what": f"{metric} (outside the timed set)", "tomoml_s": round(dt, 2),
                         "tomoml_cpu_s": round(_CPU[-1], 2), "tomoml_peak_GiB": round(peak, 2)})
            print(f"  {metric:22s} wall {dt:7.2f} s  cpu {_CPU[-1]:7.2f} s  peak traced "
                  f"{peak:5.2f} GiB", flush=True)
        a, ta, pa = timed(euler_number, ref)
        b, tb, pb = timed(measure.euler_number, ref, connectivity=3)
        assert a == b, (a, b)
        refs.append({"what": "Euler characteristic vs skimage.measure.euler_number",
                     "tomoml_s": round(ta, 2), "reference_s": round(tb, 2),
                     "tomoml_peak_GiB": round(pa, 2), "reference_peak_GiB": round(pb, 2),
                     "agree": True})
        print(f"  euler: tomoml {ta:.2f} s / skimage {tb:.2f} s (same value {a})", flush=True)

        def whole_mc(mask):
            f = ndi.gaussian_filter(mask.astype(np.float32), 0.8, mode="nearest")
            v, fc, _, _ = measure.marching_cubes(f, 0.5)
            return measure.mesh_surface_area(v, fc)

        sa, ts, ps_ = timed(surface_area, ref)
        sb, tb, pb = timed(whole_mc, ref)
        refs.append({"what": "surface area vs one unchunked skimage marching_cubes",
                     "tomoml_s": round(ts, 2), "reference_s": round(tb, 2),
                     "tomoml_peak_GiB": round(ps_, 2), "reference_peak_GiB": round(pb, 2),
                     "relative_difference": float(abs(sa["area_vox2"] - sb) / sb)})
        print(f"  surface: tomoml {ts:.2f} s {ps_:.2f} GiB / skimage {tb:.2f} s {pb:.2f} GiB "
              f"(areas differ by {abs(sa['area_vox2'] - sb) / sb:.1e})", flush=True)
        from tomoml.analyze import diffusive_tortuosity, geometric_tortuosity

        pores = ~ref
        g, tg, _ = timed(geometric_tortuosity, pores, "z")
        try:
            import skfmm

            def skfmm_tau(mask):
                phi = np.where(np.arange(m)[:, None, None] == 0, -1.0, 1.0) * np.ones(mask.shape)
                d = np.ma.filled(skfmm.distance(np.ma.MaskedArray(phi, ~mask), order=2), np.nan)
                return float(np.nanmean(d[-1] + 0.5)) / (m - 1)

            gr, tgr, _ = timed(skfmm_tau, pores)
            refs.append({"what": "geometric tortuosity z vs scikit-fmm (order 2)",
                         "tomoml_s": round(tg, 2), "reference_s": round(tgr, 2),
                         "tomoml_value": g["tortuosity"], "reference_value": gr})
            print(f"  geometric tortuosity z: tomoml {tg:.2f} s ({g['tortuosity']:.5f}) / "
                  f"scikit-fmm {tgr:.2f} s ({gr:.5f})", flush=True)
        except ImportError:
            print("  (scikit-fmm not installed: no geodesic reference)")
        dt_, td, _ = timed(diffusive_tortuosity, pores, "z", max_voxels=None)
        try:
            import openpnm  # noqa: F401
            from porespy.simulations import tortuosity_fd

            dr, tdr, _ = timed(tortuosity_fd, pores, axis=0)
            refs.append({"what": "diffusive tortuosity z vs porespy tortuosity_fd",
                         "tomoml_s": round(td, 2), "reference_s": round(tdr, 2),
                         "tomoml_value": dt_["tortuosity"], "reference_value": dr.tortuosity})
            print(f"  diffusive tortuosity z: tomoml {td:.2f} s ({dt_['tortuosity']:.5f}) / "
                  f"porespy {tdr:.2f} s ({dr.tortuosity:.5f})", flush=True)
        except ImportError:
            print(f"  diffusive tortuosity z: tomoml {td:.2f} s (OpenPNM not installed: no "
                  "porespy reference)")
        la, tl, pl = timed(local_thickness, ref)
        lb, tr, pr = timed(ps.filters.local_thickness, ref)
        agree = bool(np.array_equal(la, (2 * lb).astype(np.uint16)))
        refs.append({"what": "local thickness vs porespy.filters.local_thickness default",
                     "tomoml_s": round(tl, 2), "reference_s": round(tr, 2),
                     "tomoml_peak_GiB": round(pl, 2), "reference_peak_GiB": round(pr, 2),
                     "output_dtype": f"{la.dtype} vs {lb.dtype}", "agree": agree})
        print(f"  local thickness: tomoml {tl:.2f} s {pl:.2f} GiB ({la.dtype}) / porespy "
              f"{tr:.2f} s {pr:.2f} GiB ({lb.dtype}); identical: {agree}", flush=True)
        results["references"] = refs
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20
    print(f"peak resident memory of the process: {peak_rss:.2f} GiB")
    results["peak_rss_GiB"] = round(peak_rss, 2)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(results, fh, indent=2)


if __name__ == "__main__":
    main()
