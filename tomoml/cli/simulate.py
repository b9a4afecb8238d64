"""``tomoml simulate``: a phantom, its simulated tilt series and the ground truth, in one folder."""

from __future__ import annotations

from pathlib import Path

import typer

from tomoml.cli._app import app
from tomoml.cli._common import FORCE_OPTION, echo


@app.command("simulate")
def simulate_command(
    out_dir: Path = typer.Argument(..., help="Output folder (created if missing)."),
    phantom: str = typer.Option(
        "porous_particle", "--phantom",
        help="porous_particle, gyroid, spinodal, sponge (= gyroid) or sphere_pack."),
    shape: tuple[int, int, int] = typer.Option(
        (128, 128, 128), "--shape", metavar="Z Y X", help="Volume shape in voxels."),
    tilt_range: tuple[float, float, float] = typer.Option(
        (-60.0, 60.0, 2.0), "--tilt-range", metavar="MIN MAX STEP",
        help="Tilt angles in degrees (both ends included)."),
    dose: float = typer.Option(
        None, "--dose", metavar="D",
        help="Electrons per pixel per image of the full series; left out = noiseless. "
             "The even/odd halves get D/2 each."),
    shift_sigma: float = typer.Option(
        0.0, "--shift-sigma", metavar="PX", help="Random per-tilt drift: std in pixels."),
    tilt_axis: float = typer.Option(
        0.0, "--tilt-axis", metavar="DEG",
        help="Tilt-axis angle in the raw images, from the image y axis, counter-clockwise."),
    blur: float = typer.Option(0.0, "--blur", metavar="SIGMA", help="Image blur, pixels."),
    pixel_size: float = typer.Option(5.0, "--pixel-size", metavar="A",
                                     help="Pixel (voxel) size in ångström."),
    seed: int = typer.Option(0, "--seed", help="Random seed: same seed, same files."),
    force: bool = FORCE_OPTION,
) -> None:
    """Simulate a tilt series of a phantom whose truth is known.

    Writes into OUT_DIR: tilts.mrc + tilts.tlt (the raw series), tilts_even.mrc and
    tilts_odd.mrc (half-dose series for Noise2Noise), truth_volume.mrc (densities),
    truth_labels.mrc (uint8 phases, 0 = vacuum/pore), true_shifts.csv and true.xf (the
    alignment that undoes the simulated drift and axis tilt), simulate.json (parameters and
    the phantom's known answers: porosity, counts, Euler number).

    Example: tomoml simulate sim --phantom porous_particle --dose 200 --shift-sigma 2 --seed 1
    """
    from tomoml._progress import bar
    from tomoml.errors import ConfigError
    from tomoml.io import check_output_path
    from tomoml.synthetic import SIMULATION_FILES, make_phantom, save_simulation, simulate_tilt_series

    if not pixel_size > 0:
        raise ConfigError(f"--pixel-size must be > 0 Å, got {pixel_size:g}")
    for name in SIMULATION_FILES:  # fail before minutes of work, not after
        check_output_path(out_dir / name, force=force)
    with bar(total=3, desc="simulate", unit="step") as b:
        b.set_postfix_str("phantom")
        ph = make_phantom(phantom, shape, seed=seed)
        b.update()
        b.set_postfix_str("projecting")
        sim = simulate_tilt_series(
            ph.volume, tilt_range=tilt_range, dose=dose, shift_sigma=shift_sigma,
            tilt_axis_deg=tilt_axis, blur_sigma=blur, seed=seed, pixel_size_A=pixel_size)
        b.update()
        b.set_postfix_str("writing")
        record = save_simulation(out_dir, sim, ph, force=force,
                                 extra={"phantom_name": phantom, "phantom_shape": list(shape)})
        b.update()
    t = record.get("truth", {})
    facts = ", ".join(f"{k}={t[k]:.4g}" if isinstance(t[k], float) else f"{k}={t[k]}"
                      for k in ("porosity", "n_pores", "n_spheres", "euler_number") if k in t)
    echo(f"tomoml simulate: {phantom} {shape[0]}x{shape[1]}x{shape[2]}, {sim.tilts.n_tilts} tilts "
         f"{sim.angles_deg.min():g}..{sim.angles_deg.max():g}°, "
         f"dose={'none' if dose is None else f'{dose:g}'}; truth: {facts} -> {out_dir}/")
