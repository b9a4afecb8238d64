"""Self-supervised denoising of tomograms with a small 3D U-Net (MONAI), no clean data needed.

- :func:`train_n2n`: Noise2Noise on even/odd half reconstructions (as cryoCARE);
- :func:`train_n2v`: Noise2Void when only one volume exists, with a structured blind spot over
  the noise's correlation extent (:func:`estimate_blind_spot`), as FBP noise is correlated in x-z;
- :func:`predict`: sliding-window inference with Gaussian blending, bounded memory;
- :func:`denoise`: train (or load) and predict in one call; :func:`fit_denoiser`: its model;
- :class:`DenoiseModel`: the trained model, ``save``/``load`` as ``.pt`` + ``.json`` sidecar.
"""

from tomoml.denoise.inference import denoise, fit_denoiser, predict
from tomoml.denoise.model import DenoiseModel, Normalisation
from tomoml.denoise.n2n import train_n2n
from tomoml.denoise.n2v import blind_spot_mask, estimate_blind_spot, train_n2v
from tomoml.denoise.training import TrainSettings

__all__ = [
    "DenoiseModel", "Normalisation", "TrainSettings", "blind_spot_mask", "denoise",
    "estimate_blind_spot", "fit_denoiser",
    "predict",
    "train_n2n", "train_n2v",
]
