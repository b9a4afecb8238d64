"""``tomoml denoise``: self-supervised 3D U-Net denoising (Noise2Noise on even/odd, or Noise2Void)."""

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
    chunked_header,
    chunked_header_origin,
    echo,
    prepare_output,
    require_chunked,
    require_input,
)


@app.command("denoise")
def denoise_command(
    volume: Path = typer.Argument(..., help="Noisy tomogram (MRC/TIFF/Zarr). With --even/--odd: "
                                            "the full reconstruction (its header is kept)."),
    output: Path = typer.Option(..., "--output", "-o", help="Denoised volume to write."),
    even: Path = typer.Option(None, "--even", help="Reconstruction of the even tilts/frames."),
    odd: Path = typer.Option(None, "--odd", help="Reconstruction of the odd tilts/frames."),
    method: str = typer.Option(
        None, "--method", help="n2n (needs --even/--odd; default when given) or n2v (one volume)."),
    model: Path = typer.Option(
        None, "--model", help="Trained model (.pt with its .json sidecar) to apply; add --epochs "
                              "N to fine-tune it on these data first."),
    save_model: Path = typer.Option(
        None, "--save-model", help="Write the trained model here (PATH.pt + PATH.json)."),
    epochs: int = typer.Option(
        None, "--epochs", min=0,
        help="Training epochs (default 160 for n2n, 60 for n2v, early stopping on held-out "
             "patches; 0 with --model)."),
    steps: int = typer.Option(None, "--steps", min=1,
                              help="Steps (batches) per epoch (default 50 for n2n, 25 for n2v)."),
    patch: int = typer.Option(None, "--patch", min=8,
                              help="Patch edge in voxels, a multiple of the U-Net stride product "
                                   "(default 32)."),
    batch: int = typer.Option(None, "--batch", min=1, help="Patches per batch (default 8)."),
    max_minutes: float = typer.Option(
        None, "--max-minutes", min=0.01,
        help="Stop training after the epoch in which this much time has passed."),
    blind_spot: str = typer.Option(
        None, "--blind-spot", metavar="auto|K|KZ,KY,KX",
        help="n2v only: half-size of the masked box around each blind-spot voxel (structured "
             "Noise2Void). auto (default) estimates the extent of the noise's correlation from "
             "the volume; 0 is the original single-voxel Noise2Void."),
    flip_average: bool = typer.Option(
        True, "--flip-average/--no-flip-average",
        help="Average the network over the 8 flips (z, y, x) of each window: less of its own "
             "error (+0.4-0.5 dB measured at low dose), 8 times the inference time."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
    seed: int = typer.Option(0, "--seed", help="Random seed: same inputs and seed, same output."),
    scheduler: str = SCHEDULER_OPTION,
    workers: int = WORKERS_OPTION,
    chunk: int = CHUNK_OPTION,
    force: bool = FORCE_OPTION,
) -> None:
    """Denoise a tomogram with a 3D U-Net trained on the tomogram itself (no clean data).

    Noise2Noise (n2n, as cryoCARE) learns from two half-dose reconstructions (--even/--odd).

    Noise2Void (n2v, blind-spot) needs only the one volume. Its blind spot covers the
    neighbourhood over which the noise is correlated (estimated from the volume, or
    --blind-spot), as FBP noise is correlated within x-z planes.

    The output keeps the voxel size of VOLUME.

    With --scheduler, training is unchanged (patches sampled from the memory-mapped volumes)
    and the network is applied by overlapping chunks (one window of context each) as Dask
    tasks that read the MRC/Zarr inputs and write the MRC/Zarr output chunk by chunk.

    Example: tomoml denoise rec.mrc --even rec_even.mrc --odd rec_odd.mrc -o rec_n2n.mrc --save-model n2n

    Example (one volume): tomoml denoise rec.mrc --method n2v --blind-spot auto -o rec_n2v.mrc

    Example (chunked): tomoml denoise rec.mrc --model n2n.pt -o rec_n2n.zarr --scheduler tcp://10.0.0.5:8786
    """
    from tomoml.denoise import DenoiseModel, predict, train_n2n, train_n2v
    from tomoml.errors import ConfigError, InputError
    from tomoml.io import read_volume, write_volume

    require_input(volume, "volume")
    require_input(even, "--even")
    require_input(odd, "--odd")
    if (even is None) != (odd is None):
        raise ConfigError("--even and --odd go together: give both half reconstructions or neither")
    if method is None:
        method = "n2n" if even is not None else "n2v"
    if method not in ("n2n", "n2v"):
        raise ConfigError(f"--method must be n2n or n2v, got {method!r}")
    if method == "n2n" and even is None:
        raise ConfigError("--method n2n needs --even and --odd (half reconstructions); "
                          "use --method n2v for a single volume")
    if blind_spot is not None and method != "n2v":
        raise ConfigError("--blind-spot applies to --method n2v only")
    n2v_options = {} if blind_spot is None else {"blind_spot": _parse_blind_spot(blind_spot)}
    inputs = [p for p in (volume, even, odd, model) if p is not None]
    prepare_output(output, force=force, inputs=inputs)
    chunked = check_scheduler_options(scheduler, workers, chunk) is not None
    if chunked:
        for p, what in ((volume, "volume"), (even, "--even"), (odd, "--odd"),
                        (output, "output")):
            if p is not None:
                require_chunked(p, what)
    if save_model is not None:
        from tomoml.denoise.model import _pt_path

        pt = _pt_path(save_model)
        for p in (pt, pt.with_suffix(".json")):
            prepare_output(p, force=force, inputs=inputs)

    trained = DenoiseModel.load(model) if model is not None else None
    if epochs is None:
        epochs = 0 if trained is not None else None
    if chunked:
        # headers only; the data are memory-mapped for training, else read by chunks
        shape, voxel_size_A, is_labels, origin_A = chunked_header_origin(volume)
        for p in (even, odd) if method == "n2n" else ():
            if chunked_header(p)[0] != shape:
                raise InputError(f"{p}: shape {chunked_header(p)[0]} differs from {volume} "
                                 f"{shape}")
        train = trained is None or bool(epochs)
        vol = read_volume(volume, mmap=True) if train and method == "n2v" else None
    else:
        vol = read_volume(volume)
        is_labels = vol.is_labels
    if is_labels:
        raise InputError(f"{volume}: is a label volume; denoise the densities")
    halves = None
    if method == "n2n" and (not chunked or train):
        halves = (read_volume(even, mmap=chunked or None).data,
                  read_volume(odd, mmap=chunked or None).data)
        ref = vol.shape if vol is not None else shape
        for p, h in zip((even, odd), halves, strict=True):
            if h.shape != ref:
                raise InputError(f"{p}: shape {h.shape} differs from {volume} {ref}")

    options = {k: v for k, v in dict(epochs=epochs, steps_per_epoch=steps, patch=patch,
                                     batch=batch, max_minutes=max_minutes).items()
               if v is not None}
    if trained is None or epochs:
        if method == "n2n":
            trained = train_n2n(*halves, seed=seed, device=device, model=trained, **options)
        else:
            trained = train_n2v(vol.data, seed=seed, device=device, model=trained, **options,
                                **n2v_options)
        if save_model is not None:
            trained.save(save_model, force=force)
    if chunked:
        _denoise_chunked(trained, model if trained is not None and epochs == 0 else save_model,
                         volume, (even, odd) if method == "n2n" else None, output,
                         (voxel_size_A, origin_A), scheduler, workers, chunk, device, force,
                         flip_average)
    else:
        if method == "n2n":
            out = predict(trained, even=halves[0], odd=halves[1], device=device,
                          flip_average=flip_average)
        else:
            out = predict(trained, vol.data, device=device, flip_average=flip_average)
        write_volume(vol.replace(data=out, source=None), output, force=force)
    t = trained.training
    what = (f"{t.get('epochs_run')} epochs in {t.get('train_seconds', 0):.0f} s, best epoch "
            f"{t.get('best_epoch')}" if t.get("epochs_run") is not None else "pretrained model")
    if epochs == 0:
        what = f"model {model} applied"
    echo(f"tomoml denoise: {method} ({what}) -> {output}"
         + (f"; model -> {save_model}" if save_model is not None and (epochs is None or epochs)
            else ""))


def _parse_blind_spot(text: str):
    """``--blind-spot``: ``auto``, one integer or three ``kz,ky,kx``."""
    from tomoml.errors import ConfigError

    t = text.strip().lower()
    if t == "auto":
        return "auto"
    try:
        ks = [int(v) for v in t.split(",")]
    except ValueError:
        ks = []
    if len(ks) not in (1, 3) or min(ks) < 0:
        raise ConfigError(f"--blind-spot must be auto, K or KZ,KY,KX (integers >= 0), got {text!r}")
    return ks[0] if len(ks) == 1 else tuple(ks)


def _denoise_chunked(trained, saved: Path | None, volume: Path, halves, output: Path,
                     header: tuple, scheduler: str, workers: int | None,
                     chunk: int | None, device: str, force: bool,
                     flip_average: bool = True) -> None:
    """``--scheduler``: the trained model by overlapping chunks (denoise_blocks); ``header`` is
    the input's ``(voxel size Å, (z, y, x) origin Å)``, written into the output.

    Workers load the model from a file: the given/saved one, else a temporary copy written
    beside the output (so that workers on a shared file system see it)."""
    import shutil
    import tempfile

    from tomoml.parallel import denoise_blocks

    tmp_dir = None
    try:
        if saved is None:
            tmp_dir = tempfile.mkdtemp(prefix=".tomoml-model-", dir=output.parent)
            saved = trained.save(Path(tmp_dir) / "model")
        even, odd = halves if halves is not None else (None, None)
        denoise_blocks(None if even is not None else volume, saved, even=even, odd=odd,
                       chunks=chunk, scheduler=scheduler, num_workers=workers, out=output,
                       voxel_size_A=header[0], origin_A=header[1], force=force, device=device,
                       flip_average=flip_average)
    finally:
        if tmp_dir is not None:
            shutil.rmtree(tmp_dir, ignore_errors=True)
