"""The pipeline's HTML report: one self-contained file (images inlined as PNG data URIs)."""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from tomoml.pipeline.config import PipelineConfig
    from tomoml.pipeline.runner import PipelineResult

_LABEL_COLOURS = np.array([[0, 0, 0, 0], [0.12, 0.47, 0.71, 0.45], [1.0, 0.5, 0.05, 0.55],
                           [0.17, 0.63, 0.17, 0.55], [0.84, 0.15, 0.16, 0.55]])


def _png_data_uri(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _file_data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


def _orthoslices(volume: np.ndarray, labels: np.ndarray | None = None, title: str = "") -> str:
    """Three central orthogonal slices (xy, xz, yz), optionally with labels overlaid."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    nz, ny, nx = volume.shape
    cuts = [(f"xy (z = {nz // 2})", np.s_[nz // 2, :, :]),
            (f"xz (y = {ny // 2})", np.s_[:, ny // 2, :]),
            (f"yz (x = {nx // 2})", np.s_[:, :, nx // 2])]
    lo, hi = np.percentile(volume[::2, ::2, ::2], [0.5, 99.5])
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.8))
    for ax, (name, sl) in zip(axes, cuts, strict=True):
        ax.imshow(volume[sl], cmap="gray", vmin=lo, vmax=hi, interpolation="nearest")
        if labels is not None:
            lab = np.clip(labels[sl].astype(int), 0, len(_LABEL_COLOURS) - 1)
            ax.imshow(_LABEL_COLOURS[lab], interpolation="nearest")
        ax.set_title(name, fontsize=9)
        ax.set_axis_off()
    if title:
        fig.suptitle(title, fontsize=11)
    uri = _png_data_uri(fig)
    plt.close(fig)
    return uri


def _get(d: Any, path: str) -> Any:
    for key in path.split("."):
        if not isinstance(d, dict) or key not in d:
            return None
        d = d[key]
    return d


# (label, path in metrics.json's "metrics", unit) for the report's summary table; the JSON has
# every number with its definition.
_SUMMARY = (
    ("porosity (inside the envelope)", "porosity.porosity", ""),
    ("surface area", "surface.surface_area_nm2", "nm²"),
    ("specific surface S/V (total)", "surface.S_over_V_total_per_nm", "nm⁻¹"),
    ("specific surface S/V (solid)", "surface.S_over_V_phase_per_nm", "nm⁻¹"),
    ("pore size, mean diameter", "pore_size.mean_nm", "nm"),
    ("pore size, d10 / median / d90", ("pore_size.d10_nm", "pore_size.median_nm",
                                       "pore_size.d90_nm"), "nm"),
    ("solid thickness, mean diameter", "solid_thickness.mean_nm", "nm"),
    ("Euler characteristic of the solid", "topology.solid.euler_characteristic",
     "(26-connected)"),
    ("solid: objects / tunnels / cavities", ("topology.solid.objects", "topology.solid.tunnels",
                                             "topology.solid.cavities"), ""),
    ("connectivity density of the solid", "topology.solid.connectivity_density_per_nm3", "nm⁻³"),
    ("solid components", "topology.solid.components.count", ""),
    ("solid percolates along z / y / x", ("topology.solid.percolation.z",
                                          "topology.solid.percolation.y",
                                          "topology.solid.percolation.x"), ""),
    ("pore network: branches / junctions", ("skeleton.branches", "skeleton.junctions"), ""),
    ("particles: count / mean equivalent diameter", ("particles.count",
                                                     "particles.mean_equivalent_diameter_nm"),
     "nm"),
)


def _summary_rows(metrics: dict) -> list[tuple[str, str]]:
    rows = []
    for label, paths, unit in _SUMMARY:
        values = [_get(metrics, p) for p in ((paths,) if isinstance(paths, str) else paths)]
        if all(v is None for v in values):
            continue
        rows.append((label, " / ".join(_fmt(v) for v in values) + (f" {unit}" if unit else "")))
    return rows


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, bool):
        return "yes" if v else "no"
    return "–" if v is None else html.escape(str(v))


def write_report(res: PipelineResult, cfg: PipelineConfig) -> Path:
    """Write ``OUT/report.html`` from the steps' outputs; return its path."""
    from tomoml.io import atomic_path, read_volume

    parts: list[str] = []
    steps = res.steps

    def img(uri: str, alt: str) -> str:
        return f'<img src="{uri}" alt="{html.escape(alt)}">'

    # Step times
    rows = "".join(
        f"<tr><td>{html.escape(name)}</td><td>{s.seconds:.1f} s</td>"
        f"<td>{'cached' if s.cached else 'computed'}</td>"
        f"<td>{html.escape(', '.join(f'{k}={_fmt(v)}' for k, v in s.info.items()))}</td></tr>"
        for name, s in steps.items())
    parts.append("<h2>Steps</h2><table><tr><th>step</th><th>time</th><th></th><th>facts</th></tr>"
                 f"{rows}</table><p>Total wall time of this run: {res.seconds:.1f} s</p>")

    rec = read_volume(steps["reconstruct"].path("volume")).data
    parts.append("<h2>Reconstruction</h2>" + img(_orthoslices(rec, title="reconstruction"),
                                                  "orthoslices of the reconstruction"))
    shown = rec
    if "denoise" in steps:
        shown = read_volume(steps["denoise"].path("volume")).data
        parts.append("<h2>Denoised</h2>" + img(_orthoslices(shown, title="denoised"),
                                               "orthoslices after denoising"))
    if "segment" in steps:
        labels = read_volume(steps["segment"].path("labels")).data
        parts.append("<h2>Segmentation</h2>" + img(
            _orthoslices(shown, labels, title="segmentation overlaid"), "segmentation overlay"))
        if cfg.input.truth_labels and Path(cfg.input.truth_labels).exists():
            truth = read_volume(cfg.input.truth_labels).data
            if truth.shape == labels.shape:
                a, b = labels > 0, truth > 0
                dice = 2 * np.count_nonzero(a & b) / max(1, a.sum() + b.sum())
                parts.append(f"<p>Dice of the material phase against the ground truth "
                             f"({html.escape(cfg.input.truth_labels)}): <b>{dice:.3f}</b></p>")
    if "analyze" in steps:
        s = steps["analyze"]
        metrics = json.loads(s.path("json").read_text())
        rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{v}</td></tr>"
                       for k, v in _summary_rows(metrics.get("metrics", {})))
        parts.append(f"<h2>Morphology</h2><table>{rows}</table>"
                     f"<p>Full metrics: <a href='{s.folder.name}/{s.files['json']}'>"
                     f"{s.files['json']}</a>, per object: <a href='{s.folder.name}/"
                     f"{s.files['csv']}'>{s.files['csv']}</a></p>")
        if "png" in s.files and s.path("png").exists():
            parts.append("<h3>Pore-size and thickness distributions</h3>"
                         + img(_file_data_uri(s.path("png")), "pore-size distribution"))
    if "render" in steps:
        s = steps["render"]
        parts.append("<h2>3D view</h2>" + img(_file_data_uri(s.path("png")), "3D rendering"))
        if "html" in s.files:
            parts.append(f"<p><a href='{s.folder.name}/{s.files['html']}'>Open the interactive "
                         "scene</a> (works offline).</p>")

    cfg_txt = html.escape(json.dumps(cfg.to_dict(), indent=2))
    body = "\n".join(parts)
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>tomoml report</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; color: #222; }}
table {{ border-collapse: collapse; margin: 0.5em 0; }}
td, th {{ border: 1px solid #ccc; padding: 3px 8px; text-align: left; font-size: 0.9em; }}
img {{ max-width: 100%; }}
pre {{ background: #f6f6f6; padding: 0.8em; font-size: 0.8em; }}
</style></head><body>
<h1>tomoml report</h1>
<p>Input: <code>{html.escape(str(cfg.input.tilts))}</code>. Output folder:
<code>{html.escape(str(res.out_dir))}</code>.</p>
{body}
<h2>Configuration</h2><pre>{cfg_txt}</pre>
<p>Provenance: <a href="tomoml-run.json">tomoml-run.json</a></p>
</body></html>
"""
    path = res.out_dir / "report.html"
    with atomic_path(path, force=True) as tmp:
        tmp.write_text(page)
    return path
