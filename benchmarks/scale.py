"""Scale benchmark: reconstruction + segmentation + additive metrics of a 1024 x 1024 x 512 volume
with memory-mapped output, peak memory, and the speed-up with 1 vs 2 dask workers.

Each configuration runs in a fresh child process (so ``ru_maxrss`` is that run's own peak):

1. simulate (once): 61 analytic projections (-60..60 deg, 2 deg) of a slab of random balls,
   exact line integrals (chord lengths), written to ``tilts.mrc``; no volume is ever built;
2. reconstruct: :func:`tomoml.reconstruct.slabs.reconstruct_slabs` (FBP by default, or a few
   SIRT iterations) from the memory-mapped series into a memory-mapped ``rec.mrc``;
3. segment: :func:`tomoml.parallel.segment_blocks` into ``labels.mrc`` -- the shipped U-Net when
   ``tomoml.segment`` has a default model, else (``--segment otsu``) a global Otsu threshold of a
   subsample after a Gaussian (sigma 1) applied by overlapping chunks;
4. metrics: :func:`tomoml.analyze.chunked.chunked_metrics` (fractions, Euler; surface with
   ``--surface``) on the label file.

Workers are threads of the ``threads`` scheduler with one BLAS/torch thread per task, so
"1 worker" really is one core. Reference in the same run: the 1-worker run; with ``--reference``
also the single-process :func:`tomoml.reconstruct.reconstruct` writing into a memory map, and
the results are compared voxel for voxel.

Usage::

    python benchmarks/scale.py --size 256               # 256 x 256 x 128, a minute
    python benchmarks/scale.py                          # 1024 x 1024 x 512 (long on 2 cores)
    python benchmarks/scale.py --method sirt --iterations 5 --workers 1 2

The machine is shared with other jobs: timings are noisy; memory figures are not.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def peak_rss_gib() -> float:
    """Peak resident memory of this process and of its (waited-for) children, GiB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, kids) / 2**20  # Linux: KiB


def ball_phantom(shape, *, n_balls: int | None = None, seed: int = 0):
    """Random balls ``(z, y, x, r, density)`` inside the volume, voxel units from the centre."""
    nz, ny, nx = shape
    rng = np.random.default_rng(seed)
    n = n_balls or max(20, int(3000 * (ny * nx * nz) / (1024 * 1024 * 512)))
    r = rng.uniform(0.012, 0.04, n) * nx
    z = rng.uniform(-nz / 2 + r, nz / 2 - r)
    y = rng.uniform(-ny / 2 + r, ny / 2 - r)
    x = rng.uniform(-nx / 2 + r, nx / 2 - r)
    rho = rng.uniform(0.5, 1.0, n)
    return np.stack([z, y, x, r, rho], axis=1)


def simulate(path: Path, shape, angles_deg: np.ndarray, seed: int = 0) -> dict:
    """Exact parallel-beam projections of the balls (CONVENTIONS geometry), ``(n, ny, nx)``."""
    from tomoml.data import TiltSeries
    from tomoml.io import write_tilt_series

    nz, ny, nx = shape
    balls = ball_phantom(shape, seed=seed)
    proj = np.zeros((angles_deg.size, ny, nx), np.float32)
    t = np.deg2rad(angles_deg)
    cy, cx = (ny - 1) / 2, (nx - 1) / 2
    for z, y, x, r, rho in balls:
        yc = y + cy
        y0, y1 = max(0, int(np.floor(yc - r))), min(ny, int(np.ceil(yc + r)) + 1)
        yy = np.arange(y0, y1) - yc
        for k in range(t.size):
            uc = x * np.cos(t[k]) + z * np.sin(t[k]) + cx
            u0, u1 = max(0, int(np.floor(uc - r))), min(nx, int(np.ceil(uc + r)) + 1)
            if u1 <= u0:  # the ball's shadow left the detector at this tilt
                continue
            uu = np.arange(u0, u1) - uc
            d2 = r * r - yy[:, None] ** 2 - uu[None, :] ** 2
            proj[k, y0:y1, u0:u1] += (2 * rho) * np.sqrt(np.maximum(d2, 0)).astype(np.float32)
    write_tilt_series(TiltSeries(proj, angles_deg, pixel_size_A=10.0), path, force=True)
    solid = float(np.sum(4 / 3 * np.pi * balls[:, 3] ** 3) / (nz * ny * nx))
    return {"balls": int(len(balls)), "solid_fraction_upper_bound": solid}


def run_child(args) -> dict:
    """One configuration, in this (fresh) process."""
    from tomoml.analyze.chunked import chunked_metrics
    from tomoml.parallel import segment_blocks
    from tomoml.reconstruct.slabs import reconstruct_slabs

    work = Path(args.work)
    w = args.child_workers
    tag = f"w{w}"
    times = {}
    opts = {"iterations": args.iterations} if args.method != "fbp" else {}
    t0 = time.perf_counter()
    if args.child_mode == "reference":
        import torch

        from tomoml.io import read_tilt_series
        from tomoml.parallel import create_output
        from tomoml.reconstruct import reconstruct

        torch.set_num_threads(w)
        ts = read_tilt_series(work / "tilts.mrc", mmap=True)
        nz = ts.shape[2] // 2
        target = create_output(work / "rec_ref.mrc", (nz, ts.shape[1], ts.shape[2]), np.float32,
                               voxel_size_A=ts.pixel_size_A, labels=False)
        out = np.memmap(target.filename, dtype=target.dtype, mode="r+", offset=target.offset,
                        shape=target.shape)
        reconstruct(ts, args.method, thickness=nz, out=out, device="cpu", **opts)
        out.flush()
        del out
        times["reconstruct_s"] = time.perf_counter() - t0
        extra = {}
        labels_1 = work / f"labels_w{args.base_workers}.mrc"
        if args.segment in ("auto", "unet") and labels_1.exists():
            import mrcfile

            from tomoml.segment import segment

            with mrcfile.mmap(work / "rec_ref.mrc", mode="r") as rec, \
                    mrcfile.mmap(labels_1, mode="r") as lab:
                t1 = time.perf_counter()
                whole = segment(rec.data, device="cpu")
                times["segment_s"] = time.perf_counter() - t1
                chunked = np.asarray(lab.data).view(np.uint8)
                extra["labels_agreement_chunked_vs_whole"] = float(np.mean(whole == chunked))
        return {"mode": "reference", "workers": w, **times, **extra,
                "peak_rss_gib": peak_rss_gib()}
    import torch

    torch.set_num_threads(1)
    from tomoml.io import read_tilt_series

    ts = read_tilt_series(work / "tilts.mrc", mmap=True)
    nz = ts.shape[2] // 2
    del ts
    rec = reconstruct_slabs(work / "tilts.mrc", args.method, thickness=nz,
                            out=work / f"rec_{tag}.mrc", scheduler="threads", num_workers=w,
                            threads_per_task=1, device="cpu", force=True, **opts)
    times["reconstruct_s"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    segment = args.segment
    if segment == "auto":
        from tomoml.segment.unet import default_model_path

        segment = "unet" if default_model_path().exists() else "otsu"
    if segment == "unet":
        labels = segment_blocks(rec, chunks=256, scheduler="threads", num_workers=w,
                                out=work / f"labels_{tag}.mrc", force=True)
    else:
        labels = segment_blocks(rec, method="otsu", sigma=1.0, chunks=128, scheduler="threads",
                                num_workers=w, out=work / f"labels_{tag}.mrc", force=True)
    times["segment_s"] = time.perf_counter() - t1
    t2 = time.perf_counter()
    metrics = ("fractions", "surface", "euler") if args.surface else ("fractions", "euler")
    m = chunked_metrics(labels, 10.0, chunks=128, scheduler="threads", num_workers=w,
                        metrics=metrics)
    times["metrics_s"] = time.perf_counter() - t2
    times["total_s"] = time.perf_counter() - t0
    keep = {k: m[k] for k in ("porosity", "euler_characteristic", "surface_area_nm2") if k in m}
    return {"mode": "slabs", "workers": w, "segmentation": segment, **times, **keep,
            "peak_rss_gib": peak_rss_gib(), "load_avg_1min_end": os.getloadavg()[0]}


def identical(a: Path, b: Path) -> tuple[bool, float]:
    """Bit-identical? and max |a - b|, slab by slab through memory maps."""
    import mrcfile

    with mrcfile.mmap(a, mode="r", permissive=True) as ma, \
            mrcfile.mmap(b, mode="r", permissive=True) as mb:
        da, db = ma.data, mb.data
        same, worst = True, 0.0
        for y0 in range(0, da.shape[1], 64):
            x, y = np.asarray(da[:, y0:y0 + 64]), np.asarray(db[:, y0:y0 + 64])
            same &= bool(np.array_equal(x, y))
            worst = max(worst, float(np.abs(x.astype(np.float64) - y).max()))
    return same, worst


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=1024, help="nx = ny (nz = size / 2)")
    ap.add_argument("--tilts", type=int, default=61)
    ap.add_argument("--method", default="fbp", choices=("fbp", "sirt", "cgls"))
    ap.add_argument("--iterations", type=int, default=5)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--segment", default="auto", choices=("auto", "unet", "otsu"))
    ap.add_argument("--surface", action="store_true", help="also the chunked surface area")
    ap.add_argument("--reference", action="store_true",
                    help="also the single-process reconstruct() into a memory map")
    ap.add_argument("--work", default=None, help="work folder (default: a temporary one)")
    ap.add_argument("--json", default=None, help="write the results here")
    ap.add_argument("--reuse", action="store_true",
                    help="reuse WORK/tilts.mrc from an earlier run of the same size")
    ap.add_argument("--child-workers", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--child-mode", default="slabs", help=argparse.SUPPRESS)
    ap.add_argument("--base-workers", type=int, default=1, help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.child_workers is not None:
        print(json.dumps(run_child(args)))
        return

    work = Path(args.work or tempfile.mkdtemp(prefix="tomoml-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    n = args.size
    shape = (n // 2, n, n)
    angles = np.linspace(-60, 60, args.tilts)
    t0 = time.perf_counter()
    if args.reuse and (work / "tilts.mrc").exists():
        from tomoml.io import read_tilt_series

        found = read_tilt_series(work / "tilts.mrc", mmap=True).shape
        if found != (args.tilts, n, n):
            raise SystemExit(f"{work / 'tilts.mrc'} is {found}, not {(args.tilts, n, n)}")
        info = {"balls": len(ball_phantom(shape)), "reused": True}
    else:
        info = simulate(work / "tilts.mrc", shape, angles)
    sim_s = time.perf_counter() - t0
    print(f"volume {shape[2]}x{shape[1]}x{shape[0]} (x y z), {args.tilts} tilts, "
          f"{info['balls']} balls; simulated in {sim_s:.1f} s; work folder {work}")
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    runs = []
    configs = [("slabs", w) for w in args.workers]
    if args.reference:
        configs.append(("reference", max(args.workers)))
    for mode, w in configs:
        cmd = [sys.executable, __file__, "--work", str(work), "--size", str(n), "--method",
               args.method, "--iterations", str(args.iterations), "--segment", args.segment,
               "--child-workers", str(w), "--child-mode", mode,
               "--base-workers", str(args.workers[0])]
        if args.surface:
            cmd.append("--surface")
        child_env = env if mode == "slabs" else dict(os.environ)
        p = subprocess.run(cmd, capture_output=True, text=True, env=child_env)
        if p.returncode != 0:
            print(p.stderr[-3000:], file=sys.stderr)
            raise SystemExit(f"child run {mode} with {w} workers failed")
        r = json.loads(p.stdout.strip().splitlines()[-1])
        runs.append(r)
        print(json.dumps(r))
    slabs = [r for r in runs if r["mode"] == "slabs"]
    base = slabs[0]
    print("\n| run | workers | reconstruct s | segment s | metrics s | total s | speed-up | "
          "peak RSS GiB |")
    print("|---|---|---|---|---|---|---|---|")
    for r in runs:
        if r["mode"] == "slabs":
            print(f"| slabs ({r['segmentation']}) | {r['workers']} | {r['reconstruct_s']:.1f} | "
                  f"{r['segment_s']:.1f} | {r['metrics_s']:.1f} | {r['total_s']:.1f} | "
                  f"{base['total_s'] / r['total_s']:.2f} | {r['peak_rss_gib']:.2f} |")
        else:
            seg = f"{r['segment_s']:.1f}" if "segment_s" in r else "-"
            print(f"| reconstruct() + segment() single process | {r['workers']} torch threads | "
                  f"{r['reconstruct_s']:.1f} | {seg} | - | - | - | {r['peak_rss_gib']:.2f} |")
            if "labels_agreement_chunked_vs_whole" in r:
                print(f"U-Net labels, chunked vs whole volume: "
                      f"{100 * r['labels_agreement_chunked_vs_whole']:.2f} % of voxels agree")
    checks = {}
    names = [f"rec_w{r['workers']}.mrc" for r in slabs]
    if len(names) > 1:
        checks["slabs_1_vs_n_identical"] = identical(work / names[0], work / names[-1])
    if args.reference:
        checks["slabs_vs_reconstruct"] = identical(work / names[0], work / "rec_ref.mrc")
    for k, (same, worst) in checks.items():
        print(f"{k}: bit-identical={same}, max |diff|={worst:.3g}")
    if args.json:
        Path(args.json).write_text(json.dumps({"shape_zyx": shape, "tilts": args.tilts,
                                               "method": args.method, "simulate_s": sim_s,
                                               "runs": runs, "checks": checks, **info},
                                              indent=2))


if __name__ == "__main__":
    main()
