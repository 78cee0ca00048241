"""Paths and the four scale presets of the companion.

Every notebook takes one papermill parameter, ``scale``, and derives all its
sizes from :func:`get_scale` in the cell after its parameters cell.  The
presets are frozen dataclasses, so a notebook cannot change a size by accident;
:func:`dataclasses.replace` makes a modified copy when an experiment needs one.

Physics settings (simulation sampling, reciprocal pixel, energy) are the same
at every scale; only the amount of work changes between presets.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "SCALE_NAMES",
    "MaterialsSettings",
    "SimulationSettings",
    "TrainingSettings",
    "EvaluationSettings",
    "Scale",
    "get_scale",
    "repo_root",
    "figures_dir",
    "build_dir",
    "data_dir",
    "models_dir",
    "notebooks_dir",
    "results_dir",
    "scale_data_dir",
    "RECIPROCAL_PIXEL_SIZE",
    "NOTEBOOK_RESULTS",
    "SIMULATION_CELL",
    "MULTILAYER_MODELS",
]

#: Reciprocal pixel of every simulated pattern [1/Å] (the paper's 0.0217 Å⁻¹).
RECIPROCAL_PIXEL_SIZE = 1.0 / 46.08
#: Lateral size of the simulation cell [Å]; sets the reciprocal pixel (Δk = 1/L).
SIMULATION_CELL = 46.08
#: How Fig. 3's multilayer can be simulated (:class:`EvaluationSettings`).
MULTILAYER_MODELS = ("column", "supercell")


#: Notebook stem -> (what of the paper it reproduces, result files it writes).
NOTEBOOK_RESULTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "01_materials": ("Fig. 6", ("fig6_materials",)),
    "02_simulate": ("Fig. 1a", ("fig1a_library",)),
    "03_augment": ("Fig. 1b", ("fig1b_augment",)),
    "04_train": ("Fig. 7", ("fig7_training",)),
    "05_table1": ("Table I", ("table1_ssim",)),
    "06_disks": ("Fig. 2", ("fig2_disks",)),
    "07_strain_simulated": ("Fig. 3", ("fig3_strain_simulated",)),
    "08_strain_hbn": ("Fig. 4", ("fig4_strain_hbn",)),
    "09_strain_sige": ("Fig. 5", ("fig5_strain_sige",)),
}


# --------------------------------------------------------------------------- #
# Paths
# --------------------------------------------------------------------------- #
def _looks_like_repo(path: Path) -> bool:
    return (path / "pyproject.toml").is_file() and (path / "fcunet_lib").is_dir()


def repo_root() -> Path:
    """Return the root folder of the companion's checkout.

    Looked up in this order: the ``FCUNET_ROOT`` environment variable, the
    current folder and its parents, the folder above this package.

    Returns
    -------
    pathlib.Path
        Folder that holds ``pyproject.toml`` and ``fcunet_lib/``.

    Raises
    ------
    FileNotFoundError
        If no such folder is found (e.g. the package was installed without
        its repository and ``FCUNET_ROOT`` is unset).
    """
    env = os.environ.get("FCUNET_ROOT")
    if env:
        root = Path(env).expanduser().resolve()
        if not _looks_like_repo(root):
            raise FileNotFoundError(
                f"FCUNET_ROOT={env!r} does not hold pyproject.toml and fcunet_lib/"
            )
        return root
    here = Path.cwd().resolve()
    for candidate in (here, *here.parents):
        if _looks_like_repo(candidate):
            return candidate
    package_parent = Path(__file__).resolve().parent.parent
    if _looks_like_repo(package_parent):
        return package_parent
    raise FileNotFoundError(
        "cannot find the companion's repository: run from inside the checkout "
        "or set FCUNET_ROOT to its root folder"
    )


def figures_dir() -> Path:
    """Folder of committed figures and their JSON numbers (``figures/``)."""
    return repo_root() / "figures"


def build_dir() -> Path:
    """Git-ignored folder of executed notebooks and scratch output (``build/``)."""
    return repo_root() / "build"


def data_dir() -> Path:
    """Git-ignored folder of generated data: materials, libraries (``data/``)."""
    return Path(os.environ.get("FCUNET_DATA", repo_root() / "data"))


def results_dir(scale: str) -> Path:
    """Folder a notebook run at ``scale`` writes its figures and numbers to.

    The ``default`` scale refreshes the committed ``figures/``; every other
    scale writes to the git-ignored ``build/<scale>/figures/`` so that a smoke
    or paper run never overwrites the committed default-scale results.

    Parameters
    ----------
    scale : str
        Scale name (validated).

    Returns
    -------
    pathlib.Path
        The folder (not created).
    """
    name = get_scale(scale).name
    override = os.environ.get("FCUNET_RESULTS_DIR")
    if override:
        return Path(override)
    if name == "default":
        return figures_dir()
    return build_dir() / name / "figures"


def scale_data_dir(scale: str) -> Path:
    """Folder of the generated data of one scale: ``data/<scale>/``."""
    return data_dir() / get_scale(scale).name


def models_dir() -> Path:
    """Folder of shipped trained models and their cards (``models/``)."""
    return repo_root() / "models"


def notebooks_dir() -> Path:
    """Folder of the paired jupytext notebooks (``notebooks/``)."""
    return repo_root() / "notebooks"


# --------------------------------------------------------------------------- #
# Scale presets
# --------------------------------------------------------------------------- #
@dataclass(frozen=True)
class MaterialsSettings:
    """How many crystal systems the materials stage selects.

    Attributes
    ----------
    n_systems : int
        Crystal systems sampled for the library (paper: ≈ 1000).
    n_prototypes : int
        AFLOW prototypes decorated with substituted elements.
    candidates_per_prototype : int
        Upper bound on substituted candidates tried per prototype.
    substitution_threshold : float
        Probability threshold of pymatgen's ``SubstitutionPredictor``.
    max_sites : int
        Largest unit cell kept [atoms]; bounds simulation cost.
    seed : int
        Seed of the sampling.
    """

    n_systems: int
    n_prototypes: int
    candidates_per_prototype: int
    substitution_threshold: float
    max_sites: int
    seed: int = 0


@dataclass(frozen=True)
class SimulationSettings:
    """What the dynamical diffraction library simulates.

    Attributes
    ----------
    pattern_size : int
        Stored pattern size [pixels]: a centred crop of the simulated pattern;
        also the model's input size.
    thicknesses_nm : tuple of float
        Exit-plane thicknesses [nm].
    semiangles_mrad : tuple of float
        Probe convergence semiangles [mrad].
    energy_kv : float
        Beam energy [kV].
    zone_axes_per_system, random_orientations_per_system : int
        Orientations per crystal system (paper: 5 + 5).
    max_mistilt_deg : float
        Largest off-zone mistilt [degrees].
    mistilts_per_zone_axis : int
        Off-zone copies of every zone axis, mistilted by ``min_off_zone_deg``
        to ``max_mistilt_deg`` in a random direction.
    min_off_zone_deg : float
        Smallest mistilt of an off-zone copy [degrees].
    semiangles_per_orientation : int
        Semiangles simulated per orientation, drawn from ``semiangles_mrad``
        (paper: all three).
    other_energies_kv : tuple of float
        Further beam energies [kV]: each orientation is then simulated at one
        energy drawn uniformly from ``energy_kv`` and these (paper and
        default: none, 300 kV only). A network trained at one energy has only
        seen that energy's Ewald-sphere curvature and scattering strength
        (``models/checks/radial_bias_energy_300kv.json``).
    """

    pattern_size: int
    thicknesses_nm: tuple[float, ...]
    semiangles_mrad: tuple[float, ...]
    energy_kv: float
    zone_axes_per_system: int
    random_orientations_per_system: int
    max_mistilt_deg: float
    mistilts_per_zone_axis: int = 1
    min_off_zone_deg: float = 1.0
    semiangles_per_orientation: int = 1
    other_energies_kv: tuple[float, ...] = ()

    def __post_init__(self):
        if self.semiangles_per_orientation > len(self.semiangles_mrad):
            raise ValueError("semiangles_per_orientation exceeds the number of semiangles")
        energies = (self.energy_kv, *self.other_energies_kv)
        if not all(isinstance(e, (int, float)) and 0 < e <= 3000 for e in energies) \
                or len(set(energies)) != len(energies):
            raise ValueError(f"energy_kv and other_energies_kv must be distinct beam energies in "
                             f"(0, 3000] kV; got {energies}")
        if not 0 <= self.min_off_zone_deg <= self.max_mistilt_deg:
            raise ValueError("expected 0 <= min_off_zone_deg <= max_mistilt_deg")


@dataclass(frozen=True)
class TrainingSettings:
    """Network size and training budget.

    Attributes
    ----------
    base_filters : int
        Complex filters at the first U-Net level.
    levels : int
        U-Net levels (encoder depth).
    convs_per_block : int
        Convolutions per block ("filter depth").
    dropout : float
        Monte-Carlo dropout rate.
    batch_size : int
        Training batch size [patterns].
    epochs : int
        Training epochs.
    loss : str
        ``"mse"`` (the paper's) or another loss of :data:`fcunet_lib.train.LOSSES`.
    spot_weight : float
        Extra weight of each target's brightest pixel under ``loss="spot_mse"``.
    target_norm : str
        ``"global"`` (one factor for every target) or ``"pattern_max"`` (each
        target divided by its own maximum), see
        :func:`fcunet_lib.train.normalise_targets`.
    output_activation : str
        The networks' last step, one of
        :data:`fcunet_lib.models.OUTPUT_ACTIVATIONS` (``"linear"``, the
        authors'; ``"rectified"`` clips at zero, see :mod:`fcunet_lib.models`).
    fourier_padding : str
        How FCU-Net's Fourier-domain convolutions pad the spectrum, one of
        :data:`fcunet_lib.models.FOURIER_PADDINGS` (``"zeros"``, the
        authors'; ``"circular"`` wraps it as the periodic discrete spectrum
        it is, see :mod:`fcunet_lib.models`). The two real networks ignore it.
    correlation_skip : bool
        Whether FCU-Net's head also sees the pattern–probe cross-correlation
        map (``False``, the authors' network; see :mod:`fcunet_lib.models`,
        "Correlation skip"). The two real networks ignore it.
    """

    base_filters: int
    levels: int
    convs_per_block: int
    dropout: float
    batch_size: int
    epochs: int
    loss: str = "mse"
    spot_weight: float = 20.0
    target_norm: str = "global"
    output_activation: str = "linear"
    fourier_padding: str = "zeros"
    correlation_skip: bool = False


@dataclass(frozen=True)
class EvaluationSettings:
    """Size of the evaluation datasets of the figure notebooks.

    Attributes
    ----------
    test_patterns : int
        Held-out test patterns for Table I and Fig. 2.
    scan_shape : tuple of int
        Probe positions of the simulated strain scans (Figs. 3–5).
    mc_passes : int
        Monte-Carlo dropout passes averaged at inference.
    symmetry_frames : int
        Symmetry frames of each pattern (1, 2, 4 or 8: mirrored and rotated
        copies about its centre) the learned finder averages its prediction
        over (:mod:`fcunet_lib.symmetry`); 1 is the network alone.
    multilayer_model : str
        How Fig. 3's multilayer is simulated: ``"column"`` (every probe
        position a bulk crystal, :mod:`fcunet_lib.multilayer`) or
        ``"supercell"`` (a line scan across the real stack and its interfaces,
        :mod:`fcunet_lib.multilayer_supercell`).
    """

    test_patterns: int
    scan_shape: tuple[int, int]
    mc_passes: int
    multilayer_model: str = "column"
    symmetry_frames: int = 1

    def __post_init__(self):
        from fcunet_lib.symmetry import check_frame_count

        check_frame_count(self.symmetry_frames)
        if self.multilayer_model not in MULTILAYER_MODELS:
            raise ValueError(f"multilayer_model must be one of {MULTILAYER_MODELS}; got {self.multilayer_model!r}")


@dataclass(frozen=True)
class Scale:
    """One named preset: the sizes of every stage of the companion."""

    name: str
    description: str
    materials: MaterialsSettings
    simulation: SimulationSettings
    training: TrainingSettings
    evaluation: EvaluationSettings

    def to_dict(self) -> dict:
        """Return the preset as plain JSON-serialisable data."""
        return dataclasses.asdict(self)


def _thicknesses(start_nm: float, stop_nm: float, step_nm: float) -> tuple[float, ...]:
    count = int(round((stop_nm - start_nm) / step_nm)) + 1
    return tuple(round(start_nm + i * step_nm, 6) for i in range(count))


_PRESETS: dict[str, Scale] = {
    "smoke": Scale(
        name="smoke",
        description="tiny: every notebook runs in CI in minutes; numbers are not meaningful",
        materials=MaterialsSettings(
            n_systems=10,
            n_prototypes=12,
            candidates_per_prototype=4,
            substitution_threshold=1e-3,
            max_sites=24,
        ),
        simulation=SimulationSettings(
            pattern_size=64,
            thicknesses_nm=_thicknesses(10, 30, 10),
            semiangles_mrad=(2.0,),
            energy_kv=300.0,
            zone_axes_per_system=1,
            random_orientations_per_system=1,
            max_mistilt_deg=3.0,
        ),
        training=TrainingSettings(
            base_filters=4, levels=3, convs_per_block=1, dropout=0.1, batch_size=8, epochs=1
        ),
        evaluation=EvaluationSettings(test_patterns=8, scan_shape=(4, 4), mc_passes=1),
    ),
    "default": Scale(
        name="default",
        description="a 2-core laptop without GPU: shipped models, about an hour end to end",
        materials=MaterialsSettings(
            n_systems=200,
            n_prototypes=120,
            candidates_per_prototype=12,
            substitution_threshold=1e-3,
            max_sites=40,
        ),
        simulation=SimulationSettings(
            pattern_size=128,
            thicknesses_nm=_thicknesses(2, 50, 4),
            semiangles_mrad=(1.0, 2.0, 4.0),
            energy_kv=300.0,
            zone_axes_per_system=2,
            random_orientations_per_system=1,
            max_mistilt_deg=4.0,
        ),
        training=TrainingSettings(
            base_filters=8, levels=5, convs_per_block=2, dropout=0.1, batch_size=16, epochs=4,
            # a budget of ~2300 steps: plain MSE only learns the direct beam (see models.py)
            loss="spot_mse", spot_weight=100.0,
            # each target in units of its own maximum, clipped at zero: no background haze
            target_norm="pattern_max", output_activation="rectified",
            # zero padding draws a cross through every prediction (models/checks/fourier_padding_fcunet.json)
            fourier_padding="circular",
            # the head also sees the correlation map: eq. (1) on validation 0.46 -> 0.50
            # (models/checks/validation_scores_correlation_skip.json)
            correlation_skip=True,
        ),
        evaluation=EvaluationSettings(test_patterns=300, scan_shape=(20, 20), mc_passes=3, symmetry_frames=4),
    ),
    "full": Scale(
        name="full",
        description="retrains the shipped models from a regenerated library on a CPU machine (hours)",
        materials=MaterialsSettings(
            n_systems=400,
            n_prototypes=288,
            candidates_per_prototype=20,
            substitution_threshold=1e-3,
            max_sites=60,
        ),
        simulation=SimulationSettings(
            pattern_size=128,
            thicknesses_nm=_thicknesses(2, 50, 2),
            semiangles_mrad=(1.0, 2.0, 4.0),
            energy_kv=300.0,
            zone_axes_per_system=3,
            random_orientations_per_system=2,
            max_mistilt_deg=5.0,
            semiangles_per_orientation=2,
        ),
        training=TrainingSettings(
            base_filters=8, levels=5, convs_per_block=2, dropout=0.1, batch_size=16, epochs=60,
            loss="spot_mse", spot_weight=100.0,
            target_norm="pattern_max", output_activation="rectified",  # the default's recipe
            fourier_padding="circular", correlation_skip=True,
        ),
        evaluation=EvaluationSettings(test_patterns=1000, scan_shape=(50, 50), mc_passes=5,
                                      multilayer_model="supercell", symmetry_frames=4),
    ),
    "paper": Scale(
        name="paper",
        description="the paper's sizes (≈1000 systems, 750k patterns, 256² inputs); GPU or cluster",
        materials=MaterialsSettings(
            n_systems=1000,
            n_prototypes=288,
            candidates_per_prototype=60,
            substitution_threshold=1e-4,
            max_sites=120,
        ),
        simulation=SimulationSettings(
            pattern_size=256,
            thicknesses_nm=_thicknesses(2, 50, 2),
            semiangles_mrad=(1.0, 2.0, 4.0),
            energy_kv=300.0,
            zone_axes_per_system=5,
            random_orientations_per_system=5,
            max_mistilt_deg=5.0,
            # the paper's off-zone patterns are its random orientations
            mistilts_per_zone_axis=0,
            semiangles_per_orientation=3,
        ),
        training=TrainingSettings(
            base_filters=32, levels=7, convs_per_block=4, dropout=0.3, batch_size=256, epochs=400
        ),
        evaluation=EvaluationSettings(test_patterns=10000, scan_shape=(50, 201), mc_passes=10,
                                      multilayer_model="supercell"),
    ),
}

#: Names of the presets, smallest first.
SCALE_NAMES: tuple[str, ...] = tuple(_PRESETS)


def get_scale(name: str) -> Scale:
    """Return the frozen preset called ``name``.

    Parameters
    ----------
    name : str
        One of ``"smoke"``, ``"default"``, ``"full"``, ``"paper"``.

    Returns
    -------
    Scale
        The preset.

    Raises
    ------
    ValueError
        If ``name`` is not a known scale.
    """
    if isinstance(name, Scale):
        return name
    try:
        return _PRESETS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown scale {name!r}: expected one of {', '.join(SCALE_NAMES)}"
        ) from None
