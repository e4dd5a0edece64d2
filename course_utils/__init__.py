"""course_utils: the shared code of the course's notebooks.

One concept per module, each readable top to bottom:

- ``config``: FAST/FULL mode, device, seeding, the data folder, ``setup()``.
- ``data``: the embedded datasets (``data.load(name, split)``) and opt-in real ones.
- ``viz``: image grids, 2D scatter and density plots, loss curves, embeddings.
- ``train``: ``fit()``, the small training loop every notebook uses.
- ``checks``: the checking helpers shared by visible tests, hidden tests and pytest.
- ``metrics``: reference digits classifier, Frechet distance, mode coverage, probes.
- ``similarity``: cosine-similarity matrices (reused by SimCLR and CLIP).
- ``results``: ``record()``, the key results a notebook reports to ``course run``.
- ``answers``: the answers to the graded exercises, one module per assignment, each written once.
- ``reference``: ``ReferenceNotReleased``, what an answer raises in the students' copy until it is released.
- ``widgets``: interactive figures that fall back to a static view when headless.
- ``pca``, ``autoencoders``, ``vae`` (notebook 01): PCA, autoencoders, the VAE.
- ``gans``, ``dcgan`` (notebook 02): GAN losses and step, 2-D GANs, a DCGAN on digits.
- ``diffusion``, ``toy_diffusion``, ``unet`` (notebook 03): schedules, DDPM and DDIM, denoisers.
- ``flows``, ``flow_matching``, ``latent_diffusion`` (notebook 04): RealNVP, flow matching, latent diffusion, guidance.
- ``augment``, ``colour``, ``simclr``, ``dino`` (notebook 05): batched augmentations, NT-Xent, SimCLR, DINO.
- ``clip``, ``unclip``, ``data.words`` (notebook 06): CLIP from scratch, zero-shot, a text-conditioned decoder, words on images.
- ``fundamentals`` (notebook 07): an MLP's forward and backward by hand, conv/pool output sizes, SGD-momentum and Adam steps.
"""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("course-kit")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0+unknown"

from .config import Course, data_dir, fast_mode, get_device, pick, seed_everything, setup

__all__ = ["Course", "data_dir", "fast_mode", "get_device", "pick", "seed_everything", "setup", "__version__"]
