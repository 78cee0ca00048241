"""From a materials table to library jobs, and what one job computes.

:func:`plan_library` turns the crystal systems of a scale into the jobs of
:mod:`fcunet_lib.library`; :class:`JobRunner` is the picklable function a Dask
worker calls on one job (orient → multislice → structure-factor target).
:func:`ensure_library` ties it together for notebooks and the CLI: it builds
the materials table if missing, plans, and builds or resumes the library.

Orientations per crystal system (paper, Methods: five low-index zone axes
and five random orientations; Table I is reported on and off zone):

* ``zone_axes_per_system`` low-index zone axes, each simulated exactly on zone
  (``on_zone``) and ``mistilts_per_zone_axis`` times with an off-zone mistilt
  of ``min_off_zone_deg`` to ``max_mistilt_deg`` in a random direction
  (``off_zone``);
* ``random_orientations_per_system`` random orientations (``off_zone``).

Each orientation gets ``semiangles_per_orientation`` of the scale's probe
semiangles (drawn without replacement), so small scales still see every
semiangle across the library; with ``other_energies_kv`` it also gets one
beam energy, drawn from its own random stream so that the orientations and
semiangles are those of the single-energy plan.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import config
from .library import (Job, assign_splits, build_library, estimate_cost, job_id_for,
                      measured_cost)

__all__ = ["plan_library", "JobRunner", "library_folder", "ensure_library", "library_metadata",
           "estimate_scale", "jobs_per_system", "plan_digest", "scale_simulation",
           "simulation_settings_record"]


def _material_plan(material, index: int, sim: config.SimulationSettings, seed: int) -> list[dict]:
    from . import orientation

    rng = np.random.default_rng([seed, index])
    specs = []
    axes = orientation.low_index_zone_axes(material.structure, count=sim.zone_axes_per_system)
    for axis in axes:
        specs.append({"orientation": "zone_axis", "zone_axis": tuple(int(v) for v in axis),
                      "rotation_seed": None, "tilt_mrad": (0.0, 0.0), "zone": "on_zone"})
        for _ in range(sim.mistilts_per_zone_axis):
            angle = rng.uniform(sim.min_off_zone_deg, sim.max_mistilt_deg)
            tilt = orientation.mistilt_mrad(angle, rng.uniform(0, 360), unit="deg")
            specs.append({"orientation": "zone_axis", "zone_axis": tuple(int(v) for v in axis),
                          "rotation_seed": None, "tilt_mrad": tuple(round(t, 6) for t in tilt),
                          "zone": "off_zone"})
    for _ in range(sim.random_orientations_per_system):
        specs.append({"orientation": "random", "zone_axis": None,
                      "rotation_seed": int(rng.integers(2**31)), "tilt_mrad": (0.0, 0.0),
                      "zone": "off_zone"})
    if sim.other_energies_kv:  # its own stream: the orientations and semiangles stay as without
        energy_rng = np.random.default_rng([seed, index, 1])
        energies = (sim.energy_kv, *sim.other_energies_kv)
        specs = [{**spec, "energy_kv": float(energies[energy_rng.integers(len(energies))])}
                 for spec in specs]
    planned = []
    for spec in specs:
        chosen = rng.choice(len(sim.semiangles_mrad), size=sim.semiangles_per_orientation,
                            replace=False)
        for k in sorted(chosen):
            planned.append({**spec, "semiangle_mrad": float(sim.semiangles_mrad[k]),
                            "seed": int(rng.integers(2**31))})
    return planned


def plan_library(table, sim: config.SimulationSettings, *, seed: int = 0,
                 split_fractions=(0.7, 0.15, 0.15)) -> list[Job]:
    """Plan every job of a library; deterministic for a given seed.

    Parameters
    ----------
    table : fcunet_lib.materials.MaterialsTable
        Crystal systems (with structures).
    sim : SimulationSettings
        The scale's simulation settings.
    seed : int
        Seed of orientations, mistilts, semiangle choices and splits.
    split_fractions : (float, float, float)
        Train/validation/test fractions of *crystal systems*.

    Returns
    -------
    list of Job
        In plan order (``job.index`` = position).

    Raises
    ------
    ValueError
        If the table is empty.
    """
    materials = sorted(table, key=lambda m: m.id)
    if not materials:
        raise ValueError("the materials table is empty: expected at least one crystal system")
    splits = assign_splits([m.id for m in materials], fractions=split_fractions, seed=seed)
    jobs = []
    for index, material in enumerate(materials):
        for spec in _material_plan(material, index, sim, seed):
            full = {"energy_kv": float(sim.energy_kv), **spec,
                    "material_id": material.id, "prototype": material.prototype,
                    "thicknesses_nm": tuple(float(t) for t in sim.thicknesses_nm),
                    "split": splits[material.id]}
            jobs.append(Job(job_id=job_id_for(full), index=len(jobs), **full))
    return jobs


@dataclass(frozen=True)
class JobRunner:
    """Compute one job: CBED thickness series, vacuum probe, targets.

    Picklable (structures travel as pymatgen dicts), so Dask workers can run it.

    Attributes
    ----------
    structures : dict
        Material id -> ``Structure.as_dict()``.
    pattern_size : int
        Stored pattern size N [pixels].
    setting : dict
        :class:`fcunet_lib.simulate.SimulationSetting` fields.
    """

    structures: dict
    pattern_size: int
    setting: dict

    def crystal(self, job: Job):
        """The oriented crystal of a job."""
        from pymatgen.core import Structure

        from . import orientation

        structure = Structure.from_dict(self.structures[job.material_id])
        if job.orientation == "zone_axis":
            return orientation.zone_axis_crystal(structure, job.zone_axis)
        return orientation.random_orientation_crystal(
            structure, thickness_nm=max(job.thicknesses_nm), seed=job.rotation_seed)

    def __call__(self, job: Job) -> dict:
        from . import simulate

        result = simulate.simulate_with_target(
            self.crystal(job), energy_kv=job.energy_kv, semiangle_mrad=job.semiangle_mrad,
            thicknesses_nm=job.thicknesses_nm, tilt_mrad=job.tilt_mrad,
            pattern_size=self.pattern_size, setting=simulate.SimulationSetting(**self.setting),
            seed=job.seed)
        return {key: result[key] for key in ("cbed", "probe", "target")}


def plan_digest(jobs, metadata: dict) -> str:
    """Short sha256 of a plan and its metadata: names the library folder."""
    text = json.dumps({"jobs": [job.to_dict() for job in jobs], "metadata": metadata},
                      sort_keys=True, default=list)
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def library_folder(scale: str, digest: str) -> Path:
    """``data/<scale>/library-<digest>``: one folder per distinct plan, so a
    changed materials table or setting never collides with an older library
    and an unchanged one is found again and reused."""
    return config.scale_data_dir(scale) / f"library-{digest}"


def library_metadata(scale: str, table, setting, simulation=None) -> dict:
    """Provenance stored in the library's ``plan.json`` (``simulation``: the
    settings planned, default the scale's)."""
    from . import targets

    cfg = config.get_scale(scale)
    simulation = cfg.simulation if simulation is None else simulation
    rows = json.dumps([m.row() for m in sorted(table, key=lambda m: m.id)], sort_keys=True,
                      default=str)
    return {
        "scale": cfg.name,
        "simulation_settings": simulation_settings_record(simulation),
        "simulation_setting": setting.to_dict(),
        "reciprocal_pixel_size_inv_A": config.RECIPROCAL_PIXEL_SIZE,
        "materials_sha256": hashlib.sha256(rows.encode()).hexdigest(),
        "target": {"excitation_sigma_inv_A": targets.EXCITATION_SIGMA,
                   "spot_sigma_px": targets.SPOT_SIGMA_PX,
                   "definition": "|V_g| of reflections near the flat Ewald sphere x exp(-s_g^2/2 sigma^2) x thickness, "
                                 "Gaussian spots at sub-pixel g (see fcunet_lib.targets)"},
        "normalisation": "CBED and probe divided by the vacuum probe's maximum",
    }


def simulation_settings_record(sim: config.SimulationSettings) -> dict:
    """The settings as plain data for a plan; ``other_energies_kv`` only when given,
    so that every single-energy plan keeps the digest it had before the field existed."""
    record = dataclasses.asdict(sim)
    if not record["other_energies_kv"]:
        del record["other_energies_kv"]
    return record


def jobs_per_system(sim: config.SimulationSettings) -> int:
    """Multislice runs per crystal system planned by :func:`plan_library`
    (when every requested zone axis orients cleanly)."""
    orientations = (sim.zone_axes_per_system * (1 + sim.mistilts_per_zone_axis)
                    + sim.random_orientations_per_system)
    return orientations * sim.semiangles_per_orientation


def estimate_scale(scale: str, *, workers: int = 2) -> dict:
    """Cost of a scale's library from its settings alone (no materials needed).

    The dry run of ``fcunet library --scale paper --dry-run``: selecting 1000
    crystal systems takes tens of minutes, the estimate milliseconds.

    Returns
    -------
    dict
        ``systems``, ``jobs``, ``patterns``, ``storage_gb`` (uncompressed
        float16) and ``hours`` on ``workers`` cores (the cost model of
        :func:`fcunet_lib.library.estimate_cost`).
    """
    cfg = config.get_scale(scale)
    sim = cfg.simulation
    systems = cfg.materials.n_systems
    n_jobs = systems * jobs_per_system(sim)
    n_random = systems * sim.random_orientations_per_system * sim.semiangles_per_orientation
    thick = tuple(sim.thicknesses_nm)
    templates = [Job(job_id="", index=0, material_id="", prototype="", orientation=orientation,
                     zone_axis=(0, 0, 1), rotation_seed=None, tilt_mrad=(0.0, 0.0),
                     zone="on_zone", semiangle_mrad=sim.semiangles_mrad[0],
                     energy_kv=sim.energy_kv, thicknesses_nm=thick, split="train", seed=0)
                 for orientation in ("zone_axis", "random")]
    zone, rotated = (estimate_cost([t], pattern_size=sim.pattern_size, workers=workers)
                     for t in templates)
    return {"scale": cfg.name, "systems": systems, "jobs": n_jobs,
            "patterns": n_jobs * len(thick), "storage_gb": zone["storage_gb"] * n_jobs,
            "hours": zone["hours"] * (n_jobs - n_random) + rotated["hours"] * n_random}


def scale_simulation(scale: str, other_energies_kv=None) -> config.SimulationSettings:
    """A scale's simulation settings, with ``other_energies_kv`` replaced when given.

    Parameters
    ----------
    scale : str
        Scale preset.
    other_energies_kv : sequence of float, optional
        Beam energies [kV] planned beside the scale's ``energy_kv`` (each
        orientation gets one of them, :func:`plan_library`); ``None`` keeps the
        scale's own (none, at every preset), an empty sequence removes them.
    """
    sim = config.get_scale(scale).simulation
    if other_energies_kv is None:
        return sim
    return dataclasses.replace(sim, other_energies_kv=tuple(float(e) for e in other_energies_kv))


def ensure_library(scale: str, *, seed: int = 0, scheduler: str | None = None,
                   workers: int | None = None, dry_run: bool = False,
                   max_jobs: int | None = None, other_energies_kv=None) -> dict:
    """Build (or resume, or just plan) the library of a scale.

    Parameters
    ----------
    scale : str
        Scale preset.
    seed : int
        Seed of materials selection and the plan.
    scheduler, workers : optional
        As in :func:`fcunet_lib.library.build_library`.
    dry_run : bool
        Only plan: return the plan's size, storage and estimated cost.
    max_jobs : int, optional
        Stop after this many newly finished jobs.
    other_energies_kv : sequence of float, optional
        Plan a multi-energy library: each orientation at one of the scale's
        ``energy_kv`` and these [kV] (:func:`scale_simulation`). Its plan,
        hence its folder, differs from the scale's single-energy library.

    Returns
    -------
    dict
        ``folder``, ``jobs``, ``estimate`` and, unless a dry run, the build result.
    """
    from . import materials, simulate

    cfg = config.get_scale(scale)
    sim = scale_simulation(cfg.name, other_energies_kv)
    materials_folder = config.scale_data_dir(cfg.name) / "materials"
    if dry_run and not (materials_folder / "manifest.json").is_file():
        return {"folder": None, "estimate": estimate_scale(cfg.name, workers=workers or 2),
                "note": "estimated from the scale's settings; no materials table selected yet"}
    table = materials.ensure_materials(cfg.materials, materials_folder, seed=seed)
    jobs = plan_library(table, sim, seed=seed)
    estimate = estimate_cost(jobs, pattern_size=sim.pattern_size,
                             workers=workers or 2)
    setting = simulate.DEFAULT_SETTING
    metadata = library_metadata(cfg.name, table, setting, sim)
    folder = library_folder(cfg.name, plan_digest(jobs, metadata))
    summary = {"folder": folder, "jobs": len(jobs), "estimate": estimate}
    if dry_run:
        measured = measured_cost(folder, jobs, workers=workers or 2)
        if measured is not None:  # a started build knows better than the cost model
            summary["measured"] = measured
        return summary
    runner = JobRunner({m.id: m.structure.as_dict() for m in table}, cfg.simulation.pattern_size,
                       dataclasses.asdict(setting))
    summary["build"] = build_library(
        folder, jobs, runner, pattern_size=cfg.simulation.pattern_size,
        metadata=metadata, scheduler=scheduler,
        workers=workers, max_jobs=max_jobs)
    return summary
