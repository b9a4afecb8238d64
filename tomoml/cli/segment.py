"""``tomoml segment`` and ``tomoml train-segmenter``: label phases with a U-Net or a classical method."""

from __future__ import annotations

from pathlib import Path

import typer

from tomoml.cli._app import app
from tomoml.cli._common import (
    CHUNK_OPTION,
    FORCE_OPTION,
    SCHEDULER_OPTION,
    WORKERS_OPTION,
    check_scheduler_options,
    chunked_header_origin,
    echo,
    prepare_output,
    require_chunked,
    require_input,
)


def _prob_paths(prob: Path, n_classes: int) -> list[tuple[int, Path]]:
    """One probability file per non-background class: PROB itself for 2 classes."""
    if n_classes == 2:
        return [(1, prob)]
    return [(k, prob.with_name(f"{prob.stem}_class{k}{prob.suffix}")) for k in range(1, n_classes)]


@app.command("segment")
def segment_command(
    volume: Path = typer.Argument(..., help="Tomogram to segment (MRC/TIFF/Zarr), material bright."),
    output: Path = typer.Option(..., "--output", "-o", help="Label volume to write (uint8)."),
    model: str = typer.Option(
        "default", "--model", help="'default' (shipped 2-class pore/material model) or a "
                                   "MODEL.pt from train-segmenter (with its .json sidecar)."),
    method: str = typer.Option(
        None, "--method", help="Classical method instead of a network: otsu, multiotsu, local, "
                               "watershed (Otsu foreground split into touching particles)."),
    classes: int = typer.Option(None, "--classes", min=2,
                                help="Phases for --method multiotsu (default 3)."),
    sigma: float = typer.Option(0.0, "--sigma", min=0.0,
                                help="Gaussian pre-smoothing in voxels for classical methods."),
    probabilities: Path = typer.Option(
        None, "--probabilities", help="Also write the material probability map here (float32; "
                                      "with >2 classes one file per class, PROB_classK.mrc)."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    scheduler: str = SCHEDULER_OPTION,
    workers: int = WORKERS_OPTION,
    chunk: int = CHUNK_OPTION,
    force: bool = FORCE_OPTION,
) -> None:
    """Segment a tomogram into pore (0) and material (1), or into phases.

    Without options the shipped default U-Net is used: it was trained on simulated tomograms
    with missing wedges, shot noise and blur, and needs no labels. The output keeps the input's
    voxel size.

    With --scheduler (a U-Net model or --method otsu) the volume is labelled by overlapping
    chunks as Dask tasks, with the intensity levels (or the Otsu threshold) of the whole
    volume; a U-Net's labels can differ from the plain run at a few voxels on class
    boundaries (the window grid moves with the chunks).

    Example: tomoml segment rec.mrc -o labels.mrc --probabilities material_prob.mrc

    Example (chunked): tomoml segment rec.zarr -o labels.zarr --scheduler processes --workers 2
    """
    import numpy as np

    from tomoml.data import Volume
    from tomoml.errors import ConfigError, InputError
    from tomoml.io import read_volume, write_volume
    from tomoml.segment.inference import load_model, segment

    require_input(volume, "volume")
    if method is not None and model != "default":
        raise ConfigError("--model and --method exclude each other; give one")
    if method is not None and probabilities is not None:
        raise ConfigError("--probabilities needs a network model (not --method)")
    if classes is not None and method != "multiotsu":
        raise ConfigError("--classes applies to --method multiotsu; a model's classes are fixed")
    inputs = [volume] + ([Path(model)] if model != "default" else [])
    if model != "default":
        require_input(model, "--model")
    prepare_output(output, force=force, inputs=inputs)
    if check_scheduler_options(scheduler, workers, chunk) is not None:
        _segment_chunked(volume, output, model, method, sigma, probabilities, scheduler,
                         workers, chunk, device, force)
        return
    m = load_model(model) if method is None else None
    prob_files = _prob_paths(probabilities, m.n_classes) if probabilities is not None and m else []
    for _, p in prob_files:
        prepare_output(p, force=force, inputs=inputs + [output])

    vol = read_volume(volume, mmap=True)
    if vol.is_labels:
        raise InputError(f"{volume}: is a label volume; segment the densities")
    result = segment(vol.data, model=m if m is not None else "default", method=method,
                     classes=classes, sigma=sigma, device=device,
                     return_probabilities=bool(prob_files))
    labels, probs = result if prob_files else (result, None)
    write_volume(Volume(labels, voxel_size_A=vol.voxel_size_A, origin_A=vol.origin_A), output,
                 force=force)
    for k, p in prob_files:
        write_volume(Volume(np.asarray(probs[k]), voxel_size_A=vol.voxel_size_A,
                            origin_A=vol.origin_A), p, force=force)
    counts = np.bincount(np.asarray(labels).reshape(-1), minlength=2)
    if method == "watershed":
        echo(f"wrote {output}: {int(labels.max())} particles")
    else:
        frac = ", ".join(f"{k}: {c / labels.size:.1%}" for k, c in enumerate(counts))
        echo(f"wrote {output} ({'method ' + method if method else 'model ' + str(model)}; "
             f"volume fractions {frac})")
    for _, p in prob_files:
        echo(f"wrote {p}")


def _segment_chunked(volume: Path, output: Path, model: str, method: str | None, sigma: float,
                     probabilities: Path | None, scheduler: str, workers: int | None,
                     chunk: int | None, device: str, force: bool) -> None:
    """``--scheduler``: labels by overlapping chunks (segment_blocks) into MRC/Zarr."""
    from tomoml.analyze.chunked import phase_fractions
    from tomoml.errors import ConfigError, InputError
    from tomoml.parallel import segment_blocks

    if method not in (None, "otsu"):
        raise ConfigError(f"--method {method} needs the whole volume; with --scheduler use a "
                          "U-Net model or --method otsu")
    if probabilities is not None:
        raise ConfigError("--probabilities is not written with --scheduler")
    require_chunked(volume, "volume")
    require_chunked(output, "output")
    _, voxel_size_A, is_labels, origin_A = chunked_header_origin(volume)  # data: by chunks
    if is_labels:
        raise InputError(f"{volume}: is a label volume; segment the densities")
    segment_blocks(volume, model=model, method=method, sigma=sigma, chunks=chunk,
                   scheduler=scheduler, num_workers=workers, out=output,
                   voxel_size_A=voxel_size_A, force=force, device=device, origin_A=origin_A)
    frac = phase_fractions(output, chunks=chunk, scheduler="threads",
                           num_workers=workers)["phase_fractions"]
    shown = ", ".join(f"{k}: {v:.1%}" for k, v in frac.items())
    echo(f"wrote {output} ({'method ' + method if method else 'model ' + str(model)}; "
         f"volume fractions {shown}; by chunks on {scheduler})")


@app.command("train-segmenter")
def train_segmenter_command(
    images: list[Path] = typer.Option(..., "--images", help="Tomograms (repeat: --images A.mrc "
                                                             "--images B.mrc)."),
    labels: list[Path] = typer.Option(..., "--labels", help="Label volumes, one per image, same "
                                                             "shape (0 = pore, 1.. = phases)."),
    output: Path = typer.Option(..., "--output", "-o", help="Model to write: MODEL.pt + MODEL.json."),
    ignore_label: int = typer.Option(
        255, "--ignore-label", help="Label of unannotated voxels (sparse labels); they count "
                                    "neither in the loss nor in the validation Dice."),
    classes: int = typer.Option(None, "--classes", min=2,
                                help="Number of classes (default: largest label + 1)."),
    epochs: int = typer.Option(20, "--epochs", min=1, help="Training epochs."),
    patch: int = typer.Option(48, "--patch", min=16, help="Patch edge in voxels (multiple of 8)."),
    init: str = typer.Option("default", "--init",
                             help="default (fine-tune the shipped model), PATH, or none."),
    val_fraction: float = typer.Option(0.2, "--val-fraction", min=0.0, max=0.9,
                                       help="Annotated slices held out for validation Dice."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    force: bool = FORCE_OPTION,
) -> None:
    """Train or fine-tune a 3D U-Net segmenter on your labelled tomograms.

    Labels may be sparse: annotate a few slices and set every other voxel to --ignore-label.
    The validation Dice per class is printed; the best epoch's weights are kept.

    Example: tomoml train-segmenter --images rec.mrc --labels rec_labels.mrc -o mymodel.pt --epochs 30
    """
    from tomoml.errors import ConfigError, InputError
    from tomoml.io import read_volume
    from tomoml.segment.training import train_segmenter

    if len(images) != len(labels):
        raise ConfigError(f"{len(images)} --images but {len(labels)} --labels; give one label "
                          "volume per image")
    for p in images:
        require_input(p, "--images")
    for p in labels:
        require_input(p, "--labels")
    if init not in ("default", "none"):
        require_input(init, "--init")
    pt = output if output.suffix == ".pt" else output.with_suffix(".pt")
    inputs = list(images) + list(labels)
    prepare_output(pt, force=force, inputs=inputs)
    prepare_output(pt.with_suffix(".json"), force=force, inputs=inputs)
    ims, labs = [], []
    for ip, lp in zip(images, labels, strict=True):
        im = read_volume(ip)
        lab = read_volume(lp, labels=True)
        if im.shape != lab.shape:
            raise InputError(f"{lp}: shape {lab.shape} differs from {ip} {im.shape}")
        ims.append(im.data)
        labs.append(lab.data)
    model = train_segmenter(ims, labs, classes=classes, ignore_label=ignore_label, epochs=epochs,
                            patch=patch, init=None if init == "none" else init,
                            val_fraction=val_fraction, seed=seed, device=device)
    model.info["training_files"] = {"images": [str(p) for p in images],
                                    "labels": [str(p) for p in labels]}
    model.save(pt, force=force)
    dice = model.info.get("val_dice")
    if dice is not None:
        per = ", ".join(f"{n}: {d:.3f}" for n, d in zip(model.classes, dice, strict=True))
        echo(f"validation Dice per class: {per}")
    else:
        echo("no validation (val-fraction 0 or too few annotated slices)")
    echo(f"wrote {pt} and {pt.with_suffix('.json')}")
