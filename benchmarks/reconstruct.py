"""Reconstruction benchmark: tomoml's CPU engine against ASTRA's own CPU algorithms and others.

Same data for everyone: a piecewise-constant phantom of ``N`` slices of ``N x N`` (default 256),
61 tilts over ±60°, 1% Gaussian noise. Prints wall times, time ratios and the correlation of
each reconstruction with the phantom.

References, all on this machine's cores in the same process:
- ASTRA's CPU SIRT and FBP run one slice per thread in a 2-thread pool (ASTRA releases the GIL).
  ASTRA's SIRT and scikit-image's iradon are timed on a subset of slices (--subset) and scaled
  to the full volume: they are per-slice algorithms, so their time is linear in the slice count.
- ETSpy's (ASTRA-based) SIRT/FBP when etspy is importable; tomopy's gridrec/SIRT when tomopy is.
- the CLI path (``tomoml reconstruct`` in a fresh process: start-up, reading, writing included).

Other processes share the CPU: figures are noisy, compare ratios from the same run.

Run: python benchmarks/reconstruct.py [--size 256] [--subset 16] [--iterations 50]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def phantom(n: int, seed: int = 0) -> np.ndarray:
    """Spheres of three densities with pores, inside a cylinder along y: (z, y, x) float32."""
    rng = np.random.default_rng(seed)
    vol = np.zeros((n, n, n), np.float32)
    z, x = np.mgrid[:n, :n] - (n - 1) / 2
    vol[(z**2 + x**2 < (0.42 * n) ** 2)[:, None, :].repeat(n, axis=1)] = 0.3
    for _ in range(60):
        r = rng.uniform(0.03, 0.1) * n
        c = rng.uniform(0.25 * n, 0.75 * n, 3)
        lo = np.maximum((c - r).astype(int), 0)
        hi = np.minimum((c + r).astype(int) + 2, n)
        g = np.mgrid[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
        inside = ((g - c[:, None, None, None]) ** 2).sum(0) < r * r
        vol[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]][inside] = rng.choice([0.0, 0.6, 1.0])
    return vol


def corr(a, b) -> float:
    return float(np.corrcoef(np.ravel(a), np.ravel(b))[0, 1])


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def astra_per_slice(data, angles, nz, algorithm, iterations, slices, threads=2):
    from tomoml.reconstruct._astra import reference_slices

    return reference_slices(data[:, slices], angles, nz, algorithm=algorithm,
                            iterations=iterations, threads=threads)


def gpu_section(ts, proj, vol, it, row) -> None:
    """tomoml's CUDA engine against ASTRA's own CUDA algorithms, same data, same iterations."""
    from tomoml._device import astra_cuda_available

    if not astra_cuda_available():
        print("GPU: skipped (ASTRA cannot use a CUDA GPU here)")
        return
    from tomoml.reconstruct import TomoGeometry, reconstruct
    from tomoml.reconstruct.astra_cuda import run_astra_cuda_algorithm

    geom = TomoGeometry.from_tilts(ts)
    run_astra_cuda_algorithm("SIRT3D_CUDA", geom, proj, iterations=1)  # CUDA context, warm-up
    for ours, theirs in (("sirt", "SIRT3D_CUDA"), ("cgls", "CGLS3D_CUDA")):
        (raw, _), t_raw = timed(lambda theirs=theirs: run_astra_cuda_algorithm(
            theirs, geom, proj, iterations=it, report_every=it))
        row(f"ASTRA {theirs}-{it} (one call)", t_raw, corr(raw, vol))
        g, t_g = timed(lambda ours=ours: reconstruct(ts, ours, iterations=it, device="cuda"))
        row(f"tomoml {ours.upper()}-{it} (CUDA engine)", t_g, corr(g.data, vol),
            f"{t_g / t_raw:.2f}x ASTRA's time; rel. diff "
            f"{np.linalg.norm(g.data - raw) / np.linalg.norm(raw):.2e}")
    g, t_g = timed(lambda: reconstruct(ts, "fbp", device="cuda"))
    row("tomoml FBP (CUDA engine)", t_g, corr(g.data, vol))
    g, t_g = timed(lambda: reconstruct(ts, "tv", iterations=it, device="cuda"))
    row(f"tomoml TV-{it} (CUDA engine)", t_g, corr(g.data, vol))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--subset", type=int, default=16, help="slices timed for per-slice refs")
    ap.add_argument("--iterations", type=int, default=50)
    ap.add_argument("--no-cli", action="store_true")
    ap.add_argument("--gpu-only", action="store_true",
                    help="only the CUDA engine against ASTRA's own CUDA algorithms")
    args = ap.parse_args()
    n, it, k = args.size, args.iterations, args.subset

    import torch

    from tomoml.data import TiltSeries
    from tomoml.reconstruct import forward_project, reconstruct

    print(f"# tomoml reconstruction benchmark: {n} slices of {n}x{n}, 61 tilts ±60°, "
          f"SIRT-{it}; cpu cores {os.cpu_count()}, torch threads {torch.get_num_threads()}, "
          f"load average {os.getloadavg()[0]:.1f}")
    vol = phantom(n)
    angles = np.linspace(-60, 60, 61)
    proj, t = timed(lambda: forward_project(vol, angles))
    rng = np.random.default_rng(1)
    proj += rng.normal(0, 0.01 * proj.std(), proj.shape).astype(np.float32)
    ts = TiltSeries(proj, angles, pixel_size_A=5.0)
    print(f"data: projected in {t:.1f} s")
    sub = slice(n // 2 - k // 2, n // 2 - k // 2 + k)
    scale = n / k
    rows = []

    def row(name, seconds, c, note=""):
        rows.append((name, seconds, c, note))
        print(f"{name:42s} {seconds:8.2f} s   corr {c:.4f}  {note}")

    if args.gpu_only:
        gpu_section(ts, proj, vol, it, row)
        return

    # ---- SIRT
    (ours, info), t_ours = timed(lambda: reconstruct(ts, "sirt", iterations=it, device="cpu",
                                                     return_info=True))
    row(f"tomoml SIRT-{it} (CPU engine)", t_ours, corr(ours.data, vol),
        f"{t_ours / (n * it) * 1e3:.2f} ms per slice-iteration")
    ref, t_ref = timed(lambda: astra_per_slice(proj, angles, n, "SIRT", it, sub))
    t_astra = t_ref * scale
    rel = np.linalg.norm(ours.data[:, sub] - ref) / np.linalg.norm(ref)
    row(f"ASTRA CPU SIRT-{it}, 2 threads", t_astra, corr(ref, vol[:, sub]),
        f"timed on {k} slices x {scale:g}; corr of tomoml on them "
        f"{corr(ours.data[:, sub], vol[:, sub]):.4f}; rel. diff {rel:.2e}")
    print(f"==> SIRT speed-up over ASTRA CPU (2 threads): {t_astra / t_ours:.1f}x")

    # ---- FBP
    fbp, t_fbp = timed(lambda: reconstruct(ts, "fbp", device="cpu"))
    row("tomoml FBP (ramp)", t_fbp, corr(fbp.data, vol))
    fbp_sl, t_sl = timed(lambda: reconstruct(ts, "fbp", filter="shepp-logan", device="cpu"))
    row("tomoml FBP (shepp-logan)", t_sl, corr(fbp_sl.data, vol), "ETSpy's default filter")
    afbp, t_afbp = timed(lambda: astra_per_slice(proj, angles, n, "FBP", 1, slice(None)))
    row("ASTRA CPU FBP, 2 threads", t_afbp, corr(afbp, vol))
    print(f"==> FBP speed-up over ASTRA CPU: {t_afbp / t_fbp:.1f}x")

    from skimage.transform import iradon

    def skimage_subset():
        out = np.empty((n, k, n), np.float32)
        for j, iy in enumerate(range(sub.start, sub.stop)):
            # skimage: sinogram (detector, angle); its slice is (rows, cols) with rows = -z
            # in tomoml's frame for these angles; flip so the correlation is fair
            rec = iradon(proj[:, iy, :].T, theta=angles, filter_name="ramp", circle=False,
                         output_size=n)
            out[:, j, :] = rec
        return out

    skr, t_sk = timed(skimage_subset)
    c_sk = max(corr(skr, vol[:, sub]), corr(skr[::-1], vol[:, sub]), corr(skr[:, :, ::-1],
               vol[:, sub]), corr(skr[::-1, :, ::-1], vol[:, sub]))
    row("scikit-image iradon (ramp)", t_sk * scale, c_sk,
        f"timed on {k} slices x {scale:g}; best of flips")

    try:
        import tomopy  # noqa: F401

        from tomoml.reconstruct.tomopy import tomopy_reconstruct

        g, t_g = timed(lambda: tomopy_reconstruct(proj, angles, n, method="fbp"))
        row("tomopy gridrec", t_g, corr(g, vol))
    except ImportError as exc:
        print(f"tomopy: skipped ({exc})")

    try:
        import etspy.recon as er

        stack = np.ascontiguousarray(proj[:, sub].transpose(0, 2, 1))  # ETSpy: tilt axis = x

        def ets(method, iters):
            r = er.run(stack, angles, method, niterations=iters, cuda=False, ncores=2,
                       thickness=n, show_progressbar=False)
            return np.asarray(r).transpose(1, 0, 2)  # (slices, z, x) -> (z, slices, x)

        for meth, iters in (("SIRT", it), ("FBP", 1)):
            e, t_e = timed(lambda meth=meth, iters=iters: ets(meth, iters))
            c_e = max(corr(e, vol[:, sub]), corr(e[::-1], vol[:, sub]),
                      corr(e[:, :, ::-1], vol[:, sub]), corr(e[::-1, :, ::-1], vol[:, sub]))
            row(f"ETSpy {meth}{'-' + str(iters) if meth == 'SIRT' else ''} (CPU, 2 cores)",
                t_e * scale, c_e, f"timed on {k} slices x {scale:g}; best of flips")
    except Exception as exc:  # noqa: BLE001 - optional reference
        print(f"ETSpy: skipped ({type(exc).__name__}: {exc})")

    gpu_section(ts, proj, vol, it, row)

    # ---- CLI, start-up included
    if not args.no_cli:
        from tomoml.io import write_angles, write_tilt_series

        with tempfile.TemporaryDirectory() as d:
            d = Path(d)
            write_tilt_series(ts, d / "tilts.mrc")
            write_angles(angles, d / "tilts.tlt")
            cmd = [sys.executable, "-m", "tomoml", "reconstruct", str(d / "tilts.mrc"),
                   "--angles", str(d / "tilts.tlt"), "-o", str(d / "rec.mrc"), "--method",
                   "sirt", "--iterations", str(it), "--device", "cpu"]
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True)
            t_cli = time.perf_counter() - t0
            from tomoml.io import read_volume

            row(f"tomoml reconstruct CLI, SIRT-{it}", t_cli, corr(read_volume(d / "rec.mrc").data,
                                                                  vol), "fresh process")
            print(f"==> CLI SIRT speed-up over ASTRA CPU: {t_astra / t_cli:.1f}x")

    print("\n| method | time (s) | vs ASTRA CPU | corr. with phantom | note |")
    print("| --- | ---: | ---: | ---: | --- |")
    for name, s, c, note in rows:
        base = t_astra if "SIRT" in name else t_afbp
        print(f"| {name} | {s:.2f} | {base / s:.1f}x | {c:.3f} | {note} |")


if __name__ == "__main__":
    main()
