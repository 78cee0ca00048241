"""Microscopists' own data in, disk positions and strain maps out, through py4DSTEM's I/O.

=========================  ==================================================
:func:`load_datacube`       a 4D scan ``[rx, ry, qx, qy]`` from a vendor file
                            (``py4DSTEM.import_file``), an EMD 1.0 / HDF5 file
                            (``py4DSTEM.read``; plain HDF5 through h5py) or a
                            ``.npy`` file, validated
:func:`load_probe`          a 2D vacuum probe from the same formats; a stack
                            or a 4D vacuum scan is averaged
:class:`Calibration`        reciprocal pixel size, beam energy, probe
                            semi-angle, validated
:func:`save_results`        Bragg vectors and strain maps to one EMD 1.0 file
                            that ``py4DSTEM.read`` opens, written atomically
:func:`read_results`        that file back as plain arrays and the vectors
=========================  ==================================================

Validation follows the project's rule: a wrong rank, a probe of another
shape, NaN or infinite values, negative counts or an unknown format raise a
``ValueError`` that says what was expected; a missing file raises
``FileNotFoundError`` naming it. Negative counts usually come from dark
subtraction; they are refused unless ``clip_negative=True`` sets them to 0
(with a warning counting them), so nothing is changed silently.

Layout of a results file (``py4DSTEM.read(path)`` returns the Bragg vectors)::

    braggvectors                 BraggVectors, raw detector pixels, calibrated
    ├── strain                   RealSlice stack: e_xx, e_yy, e_xy, theta, mask
    └── virtual_bright_field     RealSlice (when given)
    metadata "fcunet_strain"     calibration, method, basis and reference
                                 vectors [pixels], units, versions
"""

from __future__ import annotations

import math
import os
import tempfile
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from fcunet_lib import checks

__all__ = [
    "HDF5_EXTENSIONS",
    "NUMPY_EXTENSIONS",
    "RESULTS_METADATA",
    "STRAIN_SLICES",
    "VENDOR_EXTENSIONS",
    "Calibration",
    "Results",
    "electron_wavelength",
    "load_datacube",
    "load_probe",
    "read_results",
    "save_results",
]

#: Read with ``py4DSTEM.import_file``: Gatan DM, Merlin MIB, EMPAD raw, Gatan K2 bin/gtg.
VENDOR_EXTENSIONS = (".dm3", ".dm4", ".dm", ".mib", ".raw", ".gtg", ".bin")
#: Read with ``py4DSTEM.read`` (EMD 1.0), or h5py for plain HDF5 datasets.
HDF5_EXTENSIONS = (".h5", ".hdf5", ".emd", ".py4dstem")
NUMPY_EXTENSIONS = (".npy",)
#: Slices of the ``strain`` RealSlice in a results file, in order.
STRAIN_SLICES = ("e_xx", "e_yy", "e_xy", "theta", "mask")
#: Name of the results metadata on the Bragg vectors.
RESULTS_METADATA = "fcunet_strain"

#: Pixel sizes from the file and the user agreeing within this fraction count as equal.
_PIXEL_SIZE_TOLERANCE = 1e-3
#: Largest plausible reciprocal pixel size [1/Å] (a 256² pattern would span 256 Å⁻¹).
_MAX_PIXEL_SIZE = 1.0
#: Largest plausible beam energy [kV] and probe semi-angle [mrad].
_MAX_ENERGY_KV = 3000.0
_MAX_SEMIANGLE_MRAD = 200.0


# --------------------------------------------------------------------------- #
# Calibration
# --------------------------------------------------------------------------- #
def electron_wavelength(energy_kv):
    """Relativistic electron wavelength.

    Parameters
    ----------
    energy_kv : float
        Accelerating voltage [kV].

    Returns
    -------
    float
        Wavelength [Å].
    """
    energy_kv = checks.positive_number("energy_kv", energy_kv, "kV", kind="voltage")
    volts = energy_kv * 1e3
    # h / sqrt(2 m e V (1 + e V / (2 m c²))) with h, m, e, c in SI, in Å
    return 12.264259 / math.sqrt(volts * (1 + 0.97847574e-6 * volts))


@dataclass(frozen=True)
class Calibration:
    """Calibration of the diffraction patterns.

    Attributes
    ----------
    pixel_size : float
        Reciprocal pixel size [1/Å].
    energy_kv : float, optional
        Beam energy [kV].
    semiangle_mrad : float, optional
        Probe convergence semi-angle [mrad].
    """

    pixel_size: float
    energy_kv: float | None = None
    semiangle_mrad: float | None = None

    def __post_init__(self):
        pixel_size = checks.reciprocal_pixel_size("pixel_size", self.pixel_size)
        if pixel_size >= _MAX_PIXEL_SIZE:
            raise ValueError(
                f"pixel_size {pixel_size:g} 1/Å per pixel is implausibly large; give the reciprocal "
                "pixel size in 1/Å (1 nm⁻¹ = 0.1 Å⁻¹), e.g. 0.0217")
        object.__setattr__(self, "pixel_size", pixel_size)
        for name, unit, most in (("energy_kv", "kV", _MAX_ENERGY_KV),
                                 ("semiangle_mrad", "mrad", _MAX_SEMIANGLE_MRAD)):
            value = getattr(self, name)
            if value is not None:
                value = checks.positive_number(name, value, unit)
                if value > most:
                    raise ValueError(f"{name} must be at most {most:g} {unit}; got {value:g}")
                object.__setattr__(self, name, value)

    @property
    def probe_radius_px(self):
        """Expected probe-disk radius [pixels], α / (λ · pixel size); None if unknown."""
        if self.energy_kv is None or self.semiangle_mrad is None:
            return None
        return self.semiangle_mrad * 1e-3 / electron_wavelength(self.energy_kv) / self.pixel_size

    def to_dict(self):
        """Plain dict, units in the keys' docs: pixel_size [1/Å], energy_kv, semiangle_mrad."""
        return asdict(self)


# --------------------------------------------------------------------------- #
# Loading
# --------------------------------------------------------------------------- #
def load_datacube(path, *, datapath=None, clip_negative=False):
    """Read a 4D-STEM scan and check it holds usable counts.

    Parameters
    ----------
    path : str or path
        ``.dm3``/``.dm4``/``.mib``/... (``py4DSTEM.import_file``), ``.h5``/
        ``.hdf5``/``.emd`` (``py4DSTEM.read``; a plain HDF5 file through
        h5py) or ``.npy`` (memory-mapped).
    datapath : str, optional
        Node inside an EMD file (e.g. ``"datacube_root/datacube"``) or
        dataset inside a plain HDF5 file; needed only when the file holds
        more than one scan.
    clip_negative : bool
        Set negative pixels (dark-subtracted data) to 0 instead of refusing
        them; a warning says how many were clipped.

    Returns
    -------
    DataCube or ndarray of shape (Rx, Ry, Qx, Qy)
        A py4DSTEM ``DataCube`` (with the file's calibration) for vendor and
        EMD files, an array for ``.npy`` and plain HDF5.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        For an unknown extension, an unreadable file, data that is not 4D,
        NaN/infinite values, or negative counts without ``clip_negative``.
    """
    path = _existing_file(path)
    found = _read_any(path, datapath, want="datacube")
    array = found if isinstance(found, np.ndarray) else getattr(found, "data", None)
    if array is None or np.ndim(array) != 4:
        shape = np.shape(array) if array is not None else f"none ({type(found).__name__})"
        raise ValueError(f"{path}: {_rank_hint(shape)}")
    if min(array.shape) < 1:
        raise ValueError(f"{path}: the scan is empty (shape {array.shape})")
    checked = _checked_counts(array, str(path), clip_negative=clip_negative, scan=True)
    if _is_datacube(found):
        found.data = checked
        return found
    return checked


def load_probe(path, *, datapath=None, pattern_shape=None, clip_negative=False):
    """Read a vacuum probe image; a stack or a 4D vacuum scan is averaged.

    Parameters
    ----------
    path : str or path
        Any format of :func:`load_datacube`; the content may be a 2D image
        (``.npy``, an EMD ``Probe``/``DiffractionSlice``/array), a stack
        ``(n, Qx, Qy)`` or a vacuum scan ``(Rx, Ry, Qx, Qy)``.
    datapath : str, optional
        As :func:`load_datacube`.
    pattern_shape : (int, int), optional
        Shape (Qx, Qy) of the scan's patterns; the probe must match it.
    clip_negative : bool
        As :func:`load_datacube`.

    Returns
    -------
    ndarray of shape (Qx, Qy), float64
        The probe [counts].

    Raises
    ------
    FileNotFoundError, ValueError
        As :func:`load_datacube`; also for a probe of another shape than
        ``pattern_shape`` or one without any signal.
    """
    path = _existing_file(path)
    found = _read_any(path, datapath, want="probe")
    array = _probe_array(found)
    if getattr(array, "ndim", None) not in (2, 3, 4):
        raise ValueError(f"{path}: a vacuum probe must be a 2D image (Qx, Qy), a stack (n, Qx, Qy) "
                         f"or a 4D vacuum scan; got shape {np.shape(array)}")
    checked = _checked_counts(array, f"probe {path}", clip_negative=clip_negative, scan=array.ndim == 4)
    probe = np.asarray(checked, dtype=np.float64)
    probe = probe.reshape((-1,) + probe.shape[-2:]).mean(axis=0)
    if pattern_shape is not None and probe.shape != tuple(pattern_shape):
        raise ValueError(
            f"probe {path} has shape {probe.shape} but the scan's patterns are {tuple(pattern_shape)}; "
            "record the vacuum probe at the same camera length and binning (or bin/crop it to match)")
    if not probe.max() > 0:
        raise ValueError(f"probe {path} is all zeros; expected a vacuum probe with a bright disk")
    return probe


def _existing_file(path):
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if not path.is_file():
        raise ValueError(f"{path} is a folder; expected a file")
    return path


def _read_any(path, datapath, *, want):
    """Dispatch on the extension; every reader's failure becomes a ValueError naming the file."""
    suffix = path.suffix.lower()
    if suffix in NUMPY_EXTENSIONS:
        if datapath is not None:
            raise ValueError(f"{path}: datapath applies to EMD/HDF5 files, not .npy")
        return _guarded(path, "a NumPy .npy file", lambda: np.load(path, mmap_mode="r", allow_pickle=False))
    if suffix in HDF5_EXTENSIONS:
        return _read_hdf5(path, datapath, want=want)
    if suffix in VENDOR_EXTENSIONS:
        if datapath is not None:
            raise ValueError(f"{path}: datapath applies to EMD/HDF5 files, not {suffix}")
        import py4DSTEM

        return _guarded(path, f"a {suffix} file (py4DSTEM.import_file)", lambda: py4DSTEM.import_file(str(path)))
    known = ", ".join(NUMPY_EXTENSIONS + HDF5_EXTENSIONS + VENDOR_EXTENSIONS)
    raise ValueError(f"{path}: unknown file type {suffix or '(no extension)'!r}; expected one of {known}")


def _guarded(path, what, read):
    # py4DSTEM's readers signal bad files with bare Exception, AssertionError or
    # OSError; all of them mean "this file could not be read as <what>".
    try:
        return read()
    except Exception as error:
        raise ValueError(f"could not read {path} as {what}: {error}") from error


def _read_hdf5(path, datapath, *, want):
    kind = _hdf5_kind(path)
    if kind == "plain":
        return _read_plain_hdf5(path, datapath, want=want)
    import py4DSTEM

    if kind in ("arina", "abTEM"):  # detector/simulation HDF5 flavours py4DSTEM imports
        if datapath is not None:
            raise ValueError(f"{path}: datapath does not apply to {kind} files")
        return _pick_node(path, _guarded(path, f"an {kind} file (py4DSTEM.import_file)",
                                         lambda: py4DSTEM.import_file(str(path))), want=want)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        found = _guarded(path, "an EMD 1.0 file (py4DSTEM.read)",
                         lambda: py4DSTEM.read(str(path), datapath=datapath))
    if isinstance(found, list):  # several EMD trees and no datapath
        raise ValueError(f"{path} holds several data trees ({', '.join(map(str, found))}); "
                         "choose one with datapath (--datapath)")
    return _pick_node(path, found, want=want)


def _hdf5_kind(path):
    """py4DSTEM's sniffing of HDF5 flavours ("emd", "legacy", "arina", "abTEM"), else "plain"."""
    from py4DSTEM.io.parsefiletype import _parse_filetype

    try:
        return _parse_filetype(str(path))
    except Exception:  # noqa: BLE001 - py4DSTEM raises a bare Exception for HDF5 it does not know
        return "plain"


def _pick_node(path, node, *, want):
    """The one scan (or probe) in an EMD tree, searched from ``node``."""
    if _is_wanted(node, want):
        return node
    candidates = [(key, child) for key, child in _walk(node) if _is_wanted(child, want)]
    if len(candidates) == 1:
        return candidates[0][1]
    what = "4D scans" if want == "datacube" else "2D images or scans"
    if not candidates:
        raise ValueError(f"{path} holds no {what} under {getattr(node, 'name', 'its root')!r} "
                         f"(found {type(node).__name__}); choose a node with datapath (--datapath)")
    names = ", ".join(key for key, _ in candidates)
    raise ValueError(f"{path} holds several {what} ({names}); choose one with datapath (--datapath)")


def _walk(node, prefix=""):
    for key in getattr(node, "treekeys", []):
        child = node.get_from_tree(key)
        yield prefix + key, child
        yield from _walk(child, prefix + key + "/")


def _is_wanted(node, want):
    from py4DSTEM import BraggVectors

    if isinstance(node, (BraggVectors, np.ndarray)) or not hasattr(node, "data"):
        return False
    ndim = np.ndim(node.data)
    return ndim == 4 if want == "datacube" else ndim in (2, 3, 4)


def _read_plain_hdf5(path, datapath, *, want):
    import h5py

    with _guarded(path, "an HDF5 file", lambda: h5py.File(path, "r")) as handle:
        if datapath is not None:
            if not isinstance(handle.get(datapath), h5py.Dataset):
                raise ValueError(f"{path} has no dataset {datapath!r}")
            return handle[datapath][()]
        ranks = (4,) if want == "datacube" else (2, 3, 4)
        found = []
        handle.visititems(lambda name, item: found.append(name)
                          if isinstance(item, h5py.Dataset) and item.ndim in ranks else None)
        if len(found) != 1:
            what = "4D datasets" if want == "datacube" else "2D, 3D or 4D datasets"
            listed = ", ".join(found) if found else "none"
            raise ValueError(f"{path} is a plain HDF5 file with {len(found)} {what} ({listed}); "
                             "choose one with datapath (--datapath)")
        return handle[found[0]][()]


def _is_datacube(obj):
    from py4DSTEM import DataCube

    return isinstance(obj, DataCube)


def _probe_array(found):
    from py4DSTEM import Probe

    if isinstance(found, np.ndarray):  # (a memory map's own .data is its buffer)
        return found
    if isinstance(found, Probe):
        return found.probe
    return getattr(found, "data", found)


def _rank_hint(shape):
    if isinstance(shape, str):
        return f"expected a 4D scan [rx, ry, qx, qy]; got {shape}"
    hint = {2: "a single pattern or image", 3: "a stack of patterns; reshape it to (Rx, Ry, Qx, Qy)"}
    extra = f" ({hint[len(shape)]})" if len(shape) in hint else ""
    return f"expected a 4D scan [rx, ry, qx, qy]; got shape {tuple(shape)}{extra}"


def _checked_counts(array, what, *, clip_negative, scan):
    """Refuse NaN/inf and (unless clipping) negative counts, one scan row at a time."""
    if array.dtype.kind not in "biuf":
        raise ValueError(f"{what} has dtype {array.dtype}; expected real-valued counts")
    negatives = 0
    for index in range(array.shape[0]):
        block = np.asarray(array[index])
        if block.dtype.kind == "f" and not np.all(np.isfinite(block)):
            where = _first(~np.isfinite(block), index, scan)
            raise ValueError(f"{what} contains NaN or infinite values (first at {where}); expected finite "
                             "counts: mask or interpolate bad pixels first")
        if block.dtype.kind in "if":
            count = int(np.count_nonzero(block < 0))
            if count and not clip_negative:
                where = _first(block < 0, index, scan)
                raise ValueError(
                    f"{what} has negative values (first at {where}, min {block.min():.3g}); expected "
                    "non-negative counts. Dark-subtracted data: clip it at 0 first, or pass "
                    "clip_negative=True (--clip-negative) to set negative pixels to 0")
            negatives += count
    if not negatives:
        return array
    warnings.warn(f"{what}: {negatives} negative pixels set to 0 (clip_negative)", UserWarning, stacklevel=3)
    clipped = np.array(array)  # a copy: the source may be a read-only memory map
    np.clip(clipped, 0, None, out=clipped)
    return clipped


def _first(bad, index, scan):
    position = (index,) + tuple(int(i) for i in np.argwhere(bad)[0])
    if scan:
        return f"scan position {position[:2]}"
    return f"index {position}"


# --------------------------------------------------------------------------- #
# Saving and reading results
# --------------------------------------------------------------------------- #
@dataclass
class Results:
    """A results file read back by :func:`read_results`.

    Attributes
    ----------
    braggvectors : py4DSTEM BraggVectors
        Disk positions [raw detector pixels] and intensities, calibrated.
    e_xx, e_yy, e_xy : ndarray of shape (Rx, Ry)
        Strain [fraction], py4DSTEM's real-space convention (see
        :mod:`fcunet_lib.strain`).
    theta : ndarray of shape (Rx, Ry)
        Lattice rotation [rad].
    mask : ndarray of bool, shape (Rx, Ry)
        Positions where the lattice fit succeeded.
    virtual_bright_field : ndarray of shape (Rx, Ry) or None
    metadata : dict
        Calibration, method, basis and reference vectors [pixels], units, versions.
    """

    braggvectors: object
    e_xx: np.ndarray
    e_yy: np.ndarray
    e_xy: np.ndarray
    theta: np.ndarray
    mask: np.ndarray
    virtual_bright_field: np.ndarray | None
    metadata: dict


def save_results(path, bragg_vectors, strain_result, *, calibration, virtual_bright_field=None,
                 metadata=None):
    """Write Bragg vectors and strain maps to an EMD 1.0 file, atomically.

    The file is written next to ``path`` under a temporary name and renamed
    over it only when complete, so an error or a kill leaves the old file
    (or none), never half of one. ``bragg_vectors`` is not modified (a copy
    is saved).

    Parameters
    ----------
    path : str or path
        Destination ending in ``.h5``, ``.hdf5`` or ``.emd``; replaced if it exists.
    bragg_vectors : py4DSTEM BraggVectors
        Output of either finder (after :func:`~fcunet_lib.strain.strain_map`,
        which calibrated their origin).
    strain_result : fcunet_lib.strain.StrainResult
    calibration : Calibration
        Must agree with the vectors' own reciprocal pixel size when they have one.
    virtual_bright_field : ndarray of shape (Rx, Ry), optional
    metadata : dict, optional
        Extra provenance (method, model, input files, reference ROI): values
        of str, bool, numbers, None or numeric arrays.

    Returns
    -------
    pathlib.Path
        The file written.
    """
    import py4DSTEM

    path = Path(path)
    if path.suffix.lower() not in (".h5", ".hdf5", ".emd"):
        raise ValueError(f"results path {path} must end in .h5, .hdf5 or .emd (what py4DSTEM.read opens)")
    tree = _results_tree(bragg_vectors, strain_result, calibration, virtual_bright_field, metadata)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp.h5")
    os.close(handle)
    try:
        py4DSTEM.save(tmp, tree, mode="o")
        with open(tmp, "rb+") as stream:
            os.fsync(stream.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_results(path):
    """Read a file written by :func:`save_results`.

    Returns
    -------
    Results
    """
    import py4DSTEM

    path = _existing_file(path)
    bv = _guarded(path, "an fcunet results file", lambda: py4DSTEM.read(str(path)))
    if not isinstance(bv, py4DSTEM.BraggVectors) or "strain" not in bv.treekeys:
        raise ValueError(f"{path} is not an fcunet results file (no Bragg vectors with strain maps)")
    stack = bv.get_from_tree("strain")
    maps = {name: np.array(stack.get_slice(name).data) for name in STRAIN_SLICES}
    vbf = bv.get_from_tree("virtual_bright_field").data if "virtual_bright_field" in bv.treekeys else None
    metadata = bv.metadata[RESULTS_METADATA]
    return Results(braggvectors=bv, e_xx=maps["e_xx"], e_yy=maps["e_yy"], e_xy=maps["e_xy"],
                   theta=maps["theta"], mask=maps["mask"].astype(bool),
                   virtual_bright_field=None if vbf is None else np.array(vbf),
                   metadata={key: metadata[key] for key in metadata.keys})


def _results_tree(bv, result, calibration, vbf, metadata):
    """A copy of the vectors with the strain maps, the image and the metadata under it."""
    from emdfile import Metadata
    from py4DSTEM import BraggVectors, RealSlice

    from fcunet_lib.strain import StrainResult

    if not isinstance(bv, BraggVectors):
        raise ValueError(f"bragg_vectors must be py4DSTEM BraggVectors; got {type(bv).__name__}")
    if not isinstance(result, StrainResult):
        raise ValueError(f"strain_result must be a StrainResult; got {type(result).__name__}")
    if not isinstance(calibration, Calibration):
        raise ValueError(f"calibration must be a Calibration; got {type(calibration).__name__}")
    rshape = tuple(int(n) for n in bv.Rshape)
    maps = [np.asarray(getattr(result, name), dtype=np.float64) for name in STRAIN_SLICES]
    for name, array in zip(STRAIN_SLICES, maps):
        if array.shape != rshape:
            raise ValueError(f"strain map {name} has shape {array.shape}; the Bragg vectors' scan is {rshape}")
    out = bv.copy(name="braggvectors")
    _calibrate(out, calibration)
    out.attach(RealSlice(np.stack(maps), name="strain", slicelabels=list(STRAIN_SLICES)))
    if vbf is not None:
        vbf = np.asarray(vbf, dtype=np.float64)
        if vbf.shape != rshape:
            raise ValueError(f"virtual_bright_field has shape {vbf.shape}; the scan is {rshape}")
        out.attach(RealSlice(vbf, name="virtual_bright_field"))
    record = Metadata(name=RESULTS_METADATA)
    for key, value in _results_metadata(result, calibration, metadata).items():
        record[key] = value
    out.metadata = record
    return out


def _calibrate(bv, calibration):
    cal = bv.calibration
    own = cal.get_Q_pixel_size()
    calibrated = cal.get_Q_pixel_units() == "A^-1" and own not in (None, 1)
    if calibrated and abs(own / calibration.pixel_size - 1) > _PIXEL_SIZE_TOLERANCE:
        raise ValueError(f"the Bragg vectors are calibrated at {own:g} 1/Å per pixel, the calibration "
                         f"given says {calibration.pixel_size:g}; which is right?")
    cal.set_Q_pixel_size(calibration.pixel_size)
    cal.set_Q_pixel_units("A^-1")
    if calibration.semiangle_mrad is not None:
        cal.set_convergence_semiangle_mrad(calibration.semiangle_mrad)


def _results_metadata(result, calibration, extra):
    import py4DSTEM

    import fcunet_lib

    record = {
        "pixel_size_inv_A": calibration.pixel_size,
        "energy_kv": calibration.energy_kv,
        "semiangle_mrad": calibration.semiangle_mrad,
        "g1_px": result.g1, "g2_px": result.g2,
        "g1_ref_px": result.g1_ref, "g2_ref_px": result.g2_ref,
        "strain_units": "fraction; real-space strain, py4DSTEM convention (fcunet_lib.strain)",
        "theta_units": "rad",
        "vector_units": "pixels (qx, qy) of the detector, origin at the array corner",
        "fcunet_lib_version": fcunet_lib.__version__,
        "py4DSTEM_version": py4DSTEM.__version__,
    }
    for key, value in (extra or {}).items():
        if not (value is None or isinstance(value, (str, bool, int, float, np.number))
                or np.asarray(value).dtype.kind in "biuf"):
            raise ValueError(f"metadata {key!r} must be a string, number, None or numeric array; got {value!r}")
        record[str(key)] = value
    return record
