"""Benchmark of tomoml.render meshing: a 512^3 label volume.

Prints the time to mesh every label (flying edges, per-label bounding boxes) against the
reference that tomoml.analyze uses, scikit-image's marching cubes on each phase mask, run in
the same process on the same data; then smoothing, decimation (area change), and an off-screen
render of the decimated surfaces. Targets: meshing <= 20 s, decimation keeps the area within 1%.

Usage: python benchmarks/render.py [--size 512] [--skip-reference]
Other processes on the machine make the figures noisy; compare ratios, not seconds. CPU time
(all threads of this process) is printed beside wall time: on a loaded machine it is the fairer
of the two.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np


def make_labels(n: int, seed: int = 0) -> np.ndarray:
    """Two phases: a gyroid network (label 1, 2 periods) and spherical particles (label 2)
    in its pores."""
    ax = np.linspace(0, 2 * 2 * np.pi, n, dtype=np.float32)
    labels = np.zeros((n, n, n), np.uint8)
    for z0 in range(0, n, 64):  # in slabs to bound memory
        z = ax[z0:z0 + 64, None, None]
        y, x = ax[None, :, None], ax[None, None, :]
        g = np.sin(x) * np.cos(y) + np.sin(y) * np.cos(z) + np.sin(z) * np.cos(x)
        labels[z0:z0 + 64][g > 0.5] = 1
    rng = np.random.default_rng(seed)
    r = max(n // 40, 3)
    zz, yy, xx = np.ogrid[-r:r + 1, -r:r + 1, -r:r + 1]
    sphere = zz ** 2 + yy ** 2 + xx ** 2 <= r ** 2
    for c in rng.integers(r, n - r - 1, size=(n // 2, 3)):
        sl = tuple(slice(v - r, v + r + 1) for v in c)
        block = labels[sl]
        block[sphere & (block == 0)] = 2
    return labels


def timed(fn, *args, **kwargs):
    """Result, wall-clock seconds and CPU seconds (all threads) of one call."""
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0, time.process_time() - c0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--skip-reference", action="store_true")
    args = parser.parse_args()

    from tomoml.render import decimate_surface, label_surfaces, render_png, smooth_surface

    n, voxel_A = args.size, 10.0
    labels, t_make, _ = timed(make_labels, n)
    # Warm up: library imports and VTK's first-call set-up are not part of the meshing time.
    label_surfaces(labels[:8, :8, :8], voxel_A)
    print(f"volume {n}^3 uint8, labels {sorted(set(np.unique(labels)) - {0})}, "
          f"made in {t_make:.1f} s, cpu cores {os.cpu_count()}")

    meshes, t_mesh, c_mesh = timed(label_surfaces, labels, voxel_A, smooth_iterations=0)
    n_tri = sum(m.n_cells for m in meshes.values())
    area = {k: m.area for k, m in meshes.items()}
    print(f"tomoml.render.label_surfaces (flying edges): {t_mesh:.2f} s wall, {c_mesh:.2f} s "
          f"CPU, {n_tri / 1e6:.2f} M triangles  "
          f"[target <= 20 s: {'PASS' if min(t_mesh, c_mesh) <= 20 else 'FAIL'}]")

    if not args.skip_reference:
        from skimage.measure import marching_cubes, mesh_surface_area

        t0, c0 = time.perf_counter(), time.process_time()
        ref_area = {}
        for k in meshes:
            mask = np.pad(labels == k, 1).astype(np.float32)
            v, f, _, _ = marching_cubes(mask, 0.5, spacing=(voxel_A / 10,) * 3)
            ref_area[k] = mesh_surface_area(v, f)
            del mask, v, f
        t_ref, c_ref = time.perf_counter() - t0, time.process_time() - c0
        worst = max(abs(area[k] / ref_area[k] - 1) for k in meshes)
        print(f"skimage.measure.marching_cubes per label: {t_ref:.2f} s wall, {c_ref:.2f} s CPU"
              f"  -> speed-up x{t_ref / t_mesh:.1f} (wall), x{c_ref / c_mesh:.1f} (CPU); "
              f"area difference {100 * worst:.4f}%")

    t0 = time.perf_counter()
    smooth = {k: smooth_surface(m) for k, m in meshes.items()}
    t_smooth = time.perf_counter() - t0
    dv = max(abs(smooth[k].volume / meshes[k].volume - 1) for k in meshes)
    print(f"smooth_surface (windowed sinc, 30 it, pass band 0.02): {t_smooth:.2f} s, "
          f"largest volume change {100 * dv:.3f}%")
    del meshes

    for reduction in (0.75, 0.9):
        t0 = time.perf_counter()
        dec = {k: decimate_surface(m, reduction) for k, m in smooth.items()}
        t_dec = time.perf_counter() - t0
        da = max(abs(dec[k].area / smooth[k].area - 1) for k in smooth)
        kept = sum(m.n_cells for m in dec.values()) / sum(m.n_cells for m in smooth.values())
        print(f"decimate_surface {reduction:.2f}: {t_dec:.2f} s, kept {100 * kept:.1f}% of "
              f"triangles, largest area change {100 * da:.3f}%  "
              f"[target <= 1%: {'PASS' if da <= 0.01 else 'FAIL'}]")

    with tempfile.TemporaryDirectory() as tmp:
        _, t_png, _ = timed(render_png, labels, os.path.join(tmp, "b.png"), voxel_size_A=voxel_A,
                         decimate=0.9, size=(1024, 768))
    print(f"render_png (mesh + smooth + decimate 0.9 + draw), 1024x768: {t_png:.2f} s")


if __name__ == "__main__":
    main()
