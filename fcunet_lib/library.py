"""The dynamical diffraction library on disk: plan, build, verify, read.

A library is a folder::

    library/
      plan.json        every job of the build (written once, before any work)
      manifest.jsonl   one line per finished job: its metadata and checksums
      data.zarr/       arrays cbed, target [n_patterns, N, N] and probe [n_jobs, N, N]

A *job* is one multislice run: one crystal system in one orientation with one
probe, recorded at every thickness of the series, so it fills ``len(thicknesses)``
consecutive pattern slots whose position is fixed by the plan. Jobs run in
parallel on Dask workers; only the parent process writes, one job's block at a
time, and appends the job's manifest line *after* its arrays are on disk. A
killed build therefore leaves at worst one half-written block that no manifest
line vouches for; rerunning the same command skips the finished jobs and
rewrites the rest, so nothing is lost or duplicated.

The job's work itself (simulate CBED, probe and target) is a function passed in
by the caller (see :func:`fcunet_lib.simulate`), which keeps this module about
storage and scheduling only.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import atomic
from .progress import progress

__all__ = [
    "Job",
    "LibraryCorrupted",
    "assign_splits",
    "build_library",
    "library_hash",
    "measured_cost",
    "open_library",
    "read_manifest",
    "split_digest",
    "verify_library",
    "estimate_cost",
]

SPLITS = ("train", "validation", "test")
ARRAY_DTYPES = {"cbed": "float16", "target": "float16", "probe": "float32"}


class LibraryCorrupted(RuntimeError):
    """A stored block does not match its checksum; the message names it."""


@dataclass(frozen=True)
class Job:
    """One multislice run of the library.

    Attributes
    ----------
    job_id : str
        Stable identifier (hash of the specification).
    index : int
        Position of the job in the plan; its patterns occupy slots
        ``index * n_thick ... (index + 1) * n_thick - 1``.
    material_id, prototype : str
        Crystal system and its AFLOW prototype label.
    orientation : str
        ``"zone_axis"`` or ``"random"``.
    zone_axis : tuple of int or None
        Zone axis [uvw] for ``"zone_axis"`` jobs.
    rotation_seed : int or None
        Seed of the random rotation for ``"random"`` jobs.
    tilt_mrad : tuple of float
        Mistilt (x, y) from the orientation [mrad].
    zone : str
        ``"on_zone"`` or ``"off_zone"`` (Table I splits).
    semiangle_mrad, energy_kv : float
        Probe convergence semiangle [mrad] and beam energy [kV].
    thicknesses_nm : tuple of float
        Exit-plane thicknesses [nm].
    split : str
        ``"train"``, ``"validation"`` or ``"test"``; disjoint by material.
    seed : int
        Seed for everything random inside the job (frozen phonons, noise).
    """

    job_id: str
    index: int
    material_id: str
    prototype: str
    orientation: str
    zone_axis: tuple[int, int, int] | None
    rotation_seed: int | None
    tilt_mrad: tuple[float, float]
    zone: str
    semiangle_mrad: float
    energy_kv: float
    thicknesses_nm: tuple[float, ...]
    split: str
    seed: int

    @property
    def n_patterns(self) -> int:
        return len(self.thicknesses_nm)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Job":
        data = dict(data)
        for key in ("zone_axis", "tilt_mrad", "thicknesses_nm"):
            if data.get(key) is not None:
                data[key] = tuple(data[key])
        return cls(**data)

    @classmethod
    def from_manifest_line(cls, record: dict) -> "Job":
        """The job a manifest line records (its checksums and timing left out)."""
        names = {field.name for field in dataclasses.fields(cls)}
        return cls.from_dict({key: value for key, value in record.items() if key in names})


def job_id_for(spec: dict) -> str:
    """Stable short identifier of a job specification (sha256 of its JSON)."""
    text = json.dumps(spec, sort_keys=True, default=list)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def assign_splits(material_ids: Sequence[str], *, fractions=(0.7, 0.15, 0.15),
                  seed: int = 0) -> dict[str, str]:
    """Assign every crystal system to one split, so splits never share one.

    Parameters
    ----------
    material_ids : sequence of str
        Distinct material identifiers.
    fractions : (float, float, float)
        Train, validation and test fractions (sum 1). Validation and test get
        at least one material each when there are three or more.
    seed : int
        Seed of the shuffle.

    Returns
    -------
    dict
        Material id -> split name.
    """
    ids = list(dict.fromkeys(material_ids))
    if len(ids) != len(material_ids):
        raise ValueError("material_ids: expected distinct identifiers")
    if len(fractions) != 3 or not np.isclose(sum(fractions), 1) or min(fractions) < 0:
        raise ValueError(f"fractions {fractions}: expected three non-negative numbers summing to 1")
    order = np.random.default_rng(seed).permutation(len(ids))
    n = len(ids)
    n_val = int(round(fractions[1] * n))
    n_test = int(round(fractions[2] * n))
    if n >= 3:
        n_val, n_test = max(n_val, 1), max(n_test, 1)
    splits = {}
    for rank, position in enumerate(order):
        split = "test" if rank < n_test else "validation" if rank < n_test + n_val else "train"
        splits[ids[position]] = split
    return splits


def estimate_cost(jobs: Sequence[Job], *, pattern_size: int, seconds_fixed: float = 1.81,
                  seconds_per_nm: float = 0.019, random_orientation_factor: float = 2.4,
                  workers: int = 2) -> dict:
    """Estimate patterns, storage and wall time of a build (dry run).

    The cost model of one job on one core is ``seconds_fixed + seconds_per_nm
    * max(thicknesses_nm)``, times ``random_orientation_factor`` for a random
    orientation (its rotated supercell is larger). The defaults are calibrated
    on the CPU seconds the 1020 jobs of the default library recorded
    (2026-12-05, Intel Xeon with AMX, 384² gpts, 50 nm): 2.76 s per zone-axis
    job, 6.65 s per random-orientation job; ``seconds_per_nm`` is the
    multislice slope of ``benchmarks/simulate.py``. Once a build has started,
    :func:`measured_cost` extrapolates its own timing instead.

    Parameters
    ----------
    jobs : sequence of Job
    pattern_size : int
        Stored pattern size [pixels].
    seconds_fixed : float
        Per-job cost independent of thickness (potential, probe, target) [s].
    seconds_per_nm : float
        Multislice cost per nm of the largest thickness [s/nm].
    random_orientation_factor : float
        Cost ratio of a random-orientation job to a zone-axis job.
    workers : int
        Parallel workers (cores).

    Returns
    -------
    dict
        ``jobs``, ``patterns``, ``storage_gb`` (float16 CBED and target plus
        float32 probes, before compression) and ``hours`` of wall time.
    """
    if min(seconds_fixed, seconds_per_nm) < 0 or random_orientation_factor <= 0:
        raise ValueError("cost model: expected non-negative seconds and a positive "
                         "random_orientation_factor")
    patterns = sum(job.n_patterns for job in jobs)
    per_pattern = pattern_size**2 * 2 * 2
    storage = patterns * per_pattern + len(jobs) * pattern_size**2 * 4
    seconds = sum((seconds_fixed + seconds_per_nm * max(job.thicknesses_nm))
                  * (random_orientation_factor if job.orientation == "random" else 1.0)
                  for job in jobs)
    return {"jobs": len(jobs), "patterns": patterns, "storage_gb": storage / 1e9,
            "hours": seconds / max(workers, 1) / 3600}


def measured_cost(folder: str | os.PathLike, jobs: Sequence[Job], *,
                  workers: int = 2) -> dict | None:
    """Extrapolate a build's cost from the worker time its finished jobs took.

    Parameters
    ----------
    folder : path-like
        Library folder of a started (or finished) build.
    jobs : sequence of Job
        The build's plan.
    workers : int
        Parallel workers (cores) the rest of the build would run on.

    Returns
    -------
    dict or None
        ``jobs_finished``, ``jobs_timed`` (finished jobs whose manifest line
        records ``cpu_seconds``), ``cpu_seconds_per_job`` (their mean [s]),
        ``hours_total`` and ``hours_remaining`` (on ``workers`` free cores,
        counting the workers' CPU time only); ``None`` when no finished job
        was timed (nothing built yet, or a build older than the timing).
    """
    records = read_manifest(folder)
    timed = [record["cpu_seconds"] for record in records if "cpu_seconds" in record]
    if not timed:
        return None
    finished = {record["job_id"] for record in records}
    remaining = sum(1 for job in jobs if job.job_id not in finished)
    per_job = float(np.mean(timed))
    to_hours = per_job / max(workers, 1) / 3600
    return {"jobs_finished": len(finished), "jobs_timed": len(timed),
            "cpu_seconds_per_job": per_job, "hours_total": len(jobs) * to_hours,
            "hours_remaining": remaining * to_hours}


# --------------------------------------------------------------------------- #
# On-disk layout
# --------------------------------------------------------------------------- #
def _block_checksum(block: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(block).tobytes()).hexdigest()


def _create_arrays(folder: Path, n_jobs: int, n_thick: int, size: int):
    import zarr

    group = zarr.open_group(folder / "data.zarr", mode="a")
    n_patterns = n_jobs * n_thick
    shapes = {"cbed": (n_patterns, size, size), "target": (n_patterns, size, size),
              "probe": (n_jobs, size, size)}
    chunks = {"cbed": (n_thick, size, size), "target": (n_thick, size, size),
              "probe": (1, size, size)}
    for name, shape in shapes.items():
        if name in group:
            if group[name].shape != shape:
                raise ValueError(f"{folder}: array {name} has shape {group[name].shape}, "
                                 f"the plan expects {shape}; use a new folder")
            continue
        group.create_array(name, shape=shape, chunks=chunks[name], dtype=ARRAY_DTYPES[name],
                           fill_value=0)
    return group


def _write_plan(folder: Path, jobs: Sequence[Job], metadata: dict) -> None:
    plan = {"metadata": metadata, "jobs": [job.to_dict() for job in jobs]}
    path = folder / "plan.json"
    text = json.dumps(plan, indent=1, default=list)
    if path.exists():
        if json.loads(path.read_text()) != json.loads(text):
            raise ValueError(f"{folder} holds a library with another plan: "
                             "use a new folder or delete the old library")
        return
    atomic.write_text(path, text)


def read_manifest(folder: str | os.PathLike) -> list[dict]:
    """Return the manifest lines of the finished jobs (ignoring a torn last line)."""
    path = Path(folder) / "manifest.jsonl"
    if not path.is_file():
        return []
    records = []
    for line in path.read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:  # a line cut by a kill: its job reruns
            continue
    return records


def _append_manifest(folder: Path, record: dict) -> None:
    path = folder / "manifest.jsonl"
    with open(path, "a") as stream:
        stream.write(json.dumps(record, default=list) + "\n")
        stream.flush()
        os.fsync(stream.fileno())


def _store_job(group, job: Job, arrays: dict) -> dict:
    n = job.n_patterns
    start = job.index * n
    stored = {}
    for name in ("cbed", "target"):
        block = np.asarray(arrays[name], dtype=ARRAY_DTYPES[name])
        if block.shape != (n, *group[name].shape[1:]):
            raise ValueError(f"job {job.job_id}: {name} has shape {block.shape}, expected "
                             f"{(n, *group[name].shape[1:])}")
        group[name][start:start + n] = block
        stored[name] = _block_checksum(block)
    probe = np.asarray(arrays["probe"], dtype=ARRAY_DTYPES["probe"])
    group["probe"][job.index] = probe
    stored["probe"] = _block_checksum(probe)
    return stored


def build_library(folder: str | os.PathLike, jobs: Sequence[Job],
                  run_job: Callable[[Job], dict], *, pattern_size: int,
                  metadata: dict | None = None, scheduler: str | None = None,
                  workers: int | None = None, max_jobs: int | None = None) -> dict:
    """Run every unfinished job and store its arrays; resumable.

    Parameters
    ----------
    folder : path
        Library folder (created).
    jobs : sequence of Job
        The plan; ``job.index`` must run 0..len(jobs)-1.
    run_job : callable
        ``run_job(job) -> {"cbed": [T, N, N], "target": [T, N, N], "probe": [N, N]}``;
        must be picklable for Dask workers.
    pattern_size : int
        N [pixels].
    metadata : dict, optional
        Simulation setting and provenance, stored in ``plan.json``.
    scheduler : str, optional
        ``None`` runs a local Dask cluster with ``workers`` single-threaded
        processes; ``"synchronous"`` runs in this process; any other string is a
        dask.distributed scheduler address (e.g. ``"tcp://host:8786"``).
    workers : int, optional
        Local worker processes (default: all cores).
    max_jobs : int, optional
        Stop after this many newly finished jobs (for tests and partial runs).

    Returns
    -------
    dict
        ``done`` (jobs finished in total) and ``ran`` (jobs run by this call).
    """
    folder = Path(folder)
    jobs = list(jobs)
    if not jobs:
        raise ValueError("jobs: expected a non-empty plan")
    if [job.index for job in jobs] != list(range(len(jobs))):
        raise ValueError("jobs: expected job.index to run 0..len(jobs)-1 in order")
    if len({job.n_patterns for job in jobs}) != 1:
        raise ValueError("jobs: expected every job to record the same number of thicknesses")
    folder.mkdir(parents=True, exist_ok=True)
    _write_plan(folder, jobs, metadata or {})
    group = _create_arrays(folder, len(jobs), jobs[0].n_patterns, pattern_size)
    finished = {record["job_id"] for record in read_manifest(folder)}
    todo = [job for job in jobs if job.job_id not in finished]
    if max_jobs is not None:
        todo = todo[:max_jobs]
    bar = progress(total=sum(j.n_patterns for j in jobs), desc="library", unit="pattern",
                   initial=sum(j.n_patterns for j in jobs if j.job_id in finished))
    ran = 0
    try:
        for job, (arrays, cost) in _execute(todo, TimedJob(run_job), scheduler=scheduler,
                                             workers=workers):
            checksums = _store_job(group, job, arrays)
            _append_manifest(folder, {**job.to_dict(), "checksums": checksums, **cost})
            ran += 1
            bar.update(job.n_patterns)
    finally:
        bar.close()
    return {"done": len(finished) + ran, "ran": ran, "total": len(jobs)}


class TimedJob:
    """A job runner that also reports what the job cost its worker.

    Picklable (it travels to Dask workers). Calling it returns the runner's
    arrays and ``{"wall_seconds": ..., "cpu_seconds": ...}``: the worker's
    elapsed time and its process CPU time for this job [s]. CPU time does not
    grow when other programs share the cores, so it is what a cost estimate
    should extrapolate from.
    """

    def __init__(self, run_job):
        self.run_job = run_job

    def __call__(self, job: Job):
        wall, cpu = time.perf_counter(), time.process_time()
        arrays = self.run_job(job)
        return arrays, {"wall_seconds": round(time.perf_counter() - wall, 3),
                        "cpu_seconds": round(time.process_time() - cpu, 3)}


def _execute(todo: Sequence[Job], run_job, *, scheduler, workers) -> Iterable:
    if not todo:
        return
    if scheduler == "synchronous":
        for job in todo:
            yield job, run_job(job)
        return
    from dask.distributed import Client, LocalCluster, as_completed

    cluster = None
    if scheduler is None:
        cluster = LocalCluster(n_workers=workers or os.cpu_count() or 1, threads_per_worker=1,
                               processes=True, dashboard_address=None)
        client = Client(cluster)
    else:
        client = Client(scheduler)
    try:
        futures = {client.submit(run_job, job, pure=False): job for job in todo}
        for future in as_completed(futures):
            yield futures[future], future.result()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


# --------------------------------------------------------------------------- #
# Reading
# --------------------------------------------------------------------------- #
def library_hash(folder: str | os.PathLike) -> str:
    """sha256 of the plan plus the sorted checksums of finished jobs (16 hex)."""
    folder = Path(folder)
    digest = hashlib.sha256((folder / "plan.json").read_bytes())
    for record in sorted(read_manifest(folder), key=lambda r: r["index"]):
        digest.update(json.dumps(record["checksums"], sort_keys=True).encode())
    return digest.hexdigest()[:16]


def split_digest(folder: str | os.PathLike) -> str:
    """sha256 of which crystal systems the plan puts in which split (16 hex).

    What a model's evaluation must not change: a network scored on a test
    split is only fair if none of its crystal systems was in the training
    split. Unlike the plan's own digest (the library folder's name), this
    does not depend on the last bits of floating-point numbers in the plan
    (lattice parameters, tilts), which can differ between machines.
    """
    plan = json.loads((Path(folder) / "plan.json").read_bytes())
    members: dict[str, set] = {}
    for job in plan["jobs"]:
        members.setdefault(job["split"], set()).add(job["material_id"])
    text = json.dumps({split: sorted(ids) for split, ids in members.items()}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _chunk_name(array_name: str, chunk_index: int) -> str:
    return f"data.zarr/{array_name}/c/{chunk_index}/0/0"


def verify_library(folder: str | os.PathLike) -> int:
    """Re-read every finished job and compare with its checksums.

    Returns
    -------
    int
        Number of jobs verified.

    Raises
    ------
    LibraryCorrupted
        Naming the first damaged chunk file and its job.
    """
    library = open_library(folder)
    for record in library.records:
        library.job_arrays(record)
    return len(library.records)


class Library:
    """Read access to a finished (or partly finished) library."""

    def __init__(self, folder: Path):
        import zarr

        self.folder = folder
        plan = json.loads((folder / "plan.json").read_text())
        self.metadata = plan["metadata"]
        self.jobs = [Job.from_dict(j) for j in plan["jobs"]]
        self.records = sorted(read_manifest(folder), key=lambda r: r["index"])
        self.group = zarr.open_group(folder / "data.zarr", mode="r")

    def __len__(self) -> int:
        return len(self.records)

    def job_arrays(self, record: dict, *, verify: bool = True) -> dict:
        """Return ``cbed``, ``target`` [T, N, N] and ``probe`` [N, N] of one job."""
        job = Job.from_manifest_line(record)
        n, start = job.n_patterns, job.index * job.n_patterns
        arrays = {}
        for name, selection, chunk in (("cbed", slice(start, start + n), job.index),
                                       ("target", slice(start, start + n), job.index),
                                       ("probe", job.index, job.index)):
            try:
                block = np.asarray(self.group[name][selection])
            except Exception as error:  # undecodable chunk
                raise LibraryCorrupted(f"{self.folder / _chunk_name(name, chunk)} (job "
                                       f"{job.job_id}) cannot be read: {error}") from error
            if verify and _block_checksum(block) != record["checksums"][name]:
                raise LibraryCorrupted(f"{self.folder / _chunk_name(name, chunk)} (job "
                                       f"{job.job_id}) does not match its checksum")
            arrays[name] = block
        return arrays

    def records_where(self, **conditions) -> list[dict]:
        """Finished jobs whose fields equal the given values, e.g. ``split="test"``."""
        return [r for r in self.records if all(r.get(k) == v for k, v in conditions.items())]


def open_library(folder: str | os.PathLike) -> Library:
    """Open a library folder for reading.

    Raises
    ------
    FileNotFoundError
        If the folder holds no ``plan.json`` (no library built there).
    """
    folder = Path(folder)
    if not (folder / "plan.json").is_file():
        raise FileNotFoundError(f"{folder} holds no library (plan.json missing): build it first")
    return Library(folder)
