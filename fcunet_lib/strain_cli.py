"""``fcunet strain``: a strain map of a user's own 4D-STEM scan.

Example::

    fcunet strain scan.dm4 --probe vacuum.dm4 --pixel-size 0.0217 \\
        --method fcunet --reference 0:20,0:64 --out results/scan

reads the scan and the vacuum probe, finds the Bragg disks (FCU-Net or
py4DSTEM's correlation), fits the lattice at every position, measures strain
against the median lattice inside the reference region, and writes

* ``OUT.h5`` — py4DSTEM ``BraggVectors`` with the strain maps (e_xx, e_yy,
  e_xy, theta, mask) and the virtual bright field under them; open it with
  ``py4DSTEM.read("OUT.h5")`` or :func:`fcunet_lib.userdata.read_results`;
* ``OUT.png`` — an overview: the virtual bright field with the reference
  region, and the four maps with their mean and standard deviation.

Bad input (a missing file, a wrong rank, a probe of another shape, NaN,
negative counts, an unknown method, a bad region, no shipped model) stops
the command with a one-line message and exit status 2 before anything is
written; the two outputs appear together or not at all.

Wiring into :mod:`fcunet_lib.cli`: ``strain_cli.add_parser(subparsers)`` and
``strain_cli.run`` as the ``strain`` command. This module imports only
``argparse`` and ``sys`` at the top, so ``fcunet --help`` stays instant.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = ["METHODS", "ReferenceRegion", "add_parser", "main", "map_summary", "parse_region", "plot_overview", "run",
           "virtual_bright_field"]

#: Disk finders of the command.
METHODS = ("fcunet", "correlation")
_PROG = "fcunet strain"
_RESULT_SUFFIXES = (".h5", ".hdf5", ".emd", ".png")


# --------------------------------------------------------------------------- #
# The reference region
# --------------------------------------------------------------------------- #
@dataclass(frozen=True)
class ReferenceRegion:
    """A rectangle of scan positions, half-open like Python slices [scan pixels].

    ``x`` is the first scan axis (rx), ``y`` the second (ry).
    """

    x0: int
    x1: int
    y0: int
    y1: int

    def mask(self, scan_shape):
        """Boolean mask of shape ``scan_shape`` (Rx, Ry), True inside the region.

        Raises
        ------
        ValueError
            If the region reaches outside the scan.
        """
        rx, ry = (int(n) for n in scan_shape)
        if self.x1 > rx or self.y1 > ry:
            raise ValueError(f"reference region {self} reaches outside the scan of {rx}×{ry} positions; "
                             f"x must end at most at {rx} and y at {ry}")
        import numpy as np

        mask = np.zeros((rx, ry), bool)
        mask[self.x0:self.x1, self.y0:self.y1] = True
        return mask

    def __str__(self):
        return f"{self.x0}:{self.x1},{self.y0}:{self.y1}"


def parse_region(text):
    """Parse ``"x0:x1,y0:y1"`` (scan pixels, half-open, 0-based) into a :class:`ReferenceRegion`.

    Raises
    ------
    ValueError
        For any other form, negative bounds or an empty range.
    """
    expected = "expected x0:x1,y0:y1 in scan pixels, e.g. 0:10,0:32"
    parts = str(text).replace(" ", "").split(",")
    if len(parts) != 2 or any(part.count(":") != 1 for part in parts):
        raise ValueError(f"bad reference region {text!r}: {expected}")
    try:
        (x0, x1), (y0, y1) = (tuple(int(v) for v in part.split(":")) for part in parts)
    except ValueError:
        raise ValueError(f"bad reference region {text!r}: bounds must be integers; {expected}") from None
    if min(x0, y0) < 0:
        raise ValueError(f"bad reference region {text!r}: bounds must be non-negative; {expected}")
    if not (x0 < x1 and y0 < y1):
        raise ValueError(f"bad reference region {text!r}: empty, each range must have start < end")
    return ReferenceRegion(x0, x1, y0, y1)


# --------------------------------------------------------------------------- #
# Command line
# --------------------------------------------------------------------------- #
def add_parser(subparsers):
    """Add the ``strain`` command to an ``argparse`` subparsers object; returns its parser."""
    parser = subparsers.add_parser(
        "strain", help="disk positions and strain maps of your own 4D-STEM scan",
        description="Find Bragg disks in a 4D-STEM scan (FCU-Net or correlation), fit the lattice "
                    "and write strain maps: OUT.h5 (py4DSTEM-readable) and OUT.png (overview).")
    parser.add_argument("input", metavar="INPUT",
                        help="4D scan: .dm3/.dm4/.mib/... (py4DSTEM.import_file), .h5/.emd (EMD 1.0 or "
                             "plain HDF5) or .npy [rx, ry, qx, qy]")
    parser.add_argument("--probe", required=True, metavar="PROBE",
                        help="vacuum probe: a 2D image, a stack or a vacuum scan (averaged), same formats")
    # numbers are checked in run(), so a typo gets the same one-line message as any bad input
    parser.add_argument("--pixel-size", required=True, metavar="K",
                        help="reciprocal pixel size of the patterns [1/Å]")
    parser.add_argument("--method", required=True, metavar="{" + ",".join(METHODS) + "}",
                        help="disk finder")
    parser.add_argument("--reference", required=True, metavar="X0:X1,Y0:Y1",
                        help="unstrained reference region in scan pixels (half-open, 0-based)")
    parser.add_argument("--out", required=True, metavar="OUT",
                        help="output stem: writes OUT.h5 and OUT.png (replaced if present)")
    parser.add_argument("--model", default="fcunet", metavar="NAME",
                        help="shipped model for --method fcunet (default: %(default)s)")
    parser.add_argument("--models-dir", metavar="DIR", help="folder of shipped models (default: models/)")
    parser.add_argument("--energy-kv", metavar="KV",
                        help="beam energy [kV] (metadata; checks the probe size and, for --method fcunet, "
                             "whether the network was trained at this energy)")
    parser.add_argument("--semiangle-mrad", metavar="MRAD",
                        help="probe convergence semi-angle [mrad] (metadata; with --energy-kv checks the "
                             "probe size and whether the network saw disks this size)")
    parser.add_argument("--batch-size", metavar="N", help="patterns per batch (bounds memory)")
    parser.add_argument("--symmetry-frames", metavar="N",
                        help="--method fcunet: average the prediction over N mirrored/rotated copies of "
                             "each pattern, 1, 2, 4 or 8 (default: the default scale's "
                             "evaluation.symmetry_frames; 1 is fastest)")
    parser.add_argument("--datapath", metavar="PATH", help="scan inside an EMD/HDF5 INPUT holding several")
    parser.add_argument("--probe-datapath", metavar="PATH", help="probe inside an EMD/HDF5 PROBE file")
    parser.add_argument("--clip-negative", action="store_true",
                        help="set negative pixels (dark-subtracted data) to 0 instead of refusing them")
    return parser


def run(args) -> int:
    """Run the ``strain`` command on parsed arguments; returns the exit status.

    Bad input prints ``fcunet strain: error: ...`` on stderr and returns 2,
    with nothing written.
    """
    from fcunet_lib.model_store import ModelChecksumError

    try:
        written = _strain(args)
    except (ValueError, FileNotFoundError, ModelChecksumError) as error:
        print(f"{_PROG}: error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {written['h5']} and {written['png']}")
    for name, (mean, std) in written["summary"].items():
        print(f"  {name}: mean {_rounded(mean, 4):+.4f} std {std:.4f} [{_UNITS[name][1]}]")
    return 0


def main(argv=None) -> int:
    """``fcunet strain ...`` on its own (as the wired ``fcunet`` command runs it)."""
    parser = argparse.ArgumentParser(prog="fcunet")
    add_parser(parser.add_subparsers(dest="command", required=True))
    return run(parser.parse_args(argv))


# --------------------------------------------------------------------------- #
# Steps, all checks before any work and any work before any write
# --------------------------------------------------------------------------- #
def _strain(args):
    import numpy as np

    from fcunet_lib import userdata

    if args.method not in METHODS:
        raise ValueError(f"unknown method {args.method!r}; expected one of {', '.join(METHODS)}")
    region = parse_region(args.reference)
    calibration = userdata.Calibration(args.pixel_size, energy_kv=args.energy_kv,
                                       semiangle_mrad=args.semiangle_mrad)
    batch_size = _batch_size(args.batch_size)
    symmetry_frames = _symmetry_frames(args.symmetry_frames)
    h5_path, png_path = _output_paths(args.out, inputs=(args.input, args.probe))
    for path in (args.input, args.probe):  # both named before any slow loading
        if not Path(path).exists():
            raise FileNotFoundError(f"{path}: no such file")
    model = _model(args) if args.method == "fcunet" else None

    cube = userdata.load_datacube(args.input, datapath=args.datapath, clip_negative=args.clip_negative)
    data = cube if isinstance(cube, np.ndarray) else cube.data  # a memory map's .data is its buffer
    _warn_file_calibration(cube, calibration)
    probe = userdata.load_probe(args.probe, datapath=args.probe_datapath, pattern_shape=data.shape[2:],
                                clip_negative=args.clip_negative)
    reference = region.mask(data.shape[:2])
    _warn_probe_size(probe, calibration)
    domain_warnings = _warn_training_domain(model, calibration)

    bv = _find_disks(args.method, data, probe, calibration, model, batch_size, symmetry_frames)
    from fcunet_lib.strain import strain_map

    result = strain_map(bv, reference=reference)
    vbf = virtual_bright_field(data, probe)
    summary = map_summary(result)
    png = _png_bytes(plot_overview(vbf, result, region=region, summary=summary,
                                   title=f"{Path(args.input).name}: {args.method}"))
    metadata = {**_provenance(args, region, model), "training_domain_warnings": "; ".join(domain_warnings)}
    _write_both(h5_path, png_path, png, lambda: userdata.save_results(
        h5_path, bv, result, calibration=calibration, virtual_bright_field=vbf, metadata=metadata))
    return {"h5": h5_path, "png": png_path, "summary": summary}


def _output_paths(out, *, inputs):
    stem = Path(out)
    if stem.suffix.lower() in _RESULT_SUFFIXES:
        stem = stem.with_suffix("")
    if stem.name in ("", ".", ".."):
        raise ValueError(f"--out {out!r} must name a file stem, e.g. results/scan")
    if stem.parent.exists() and not stem.parent.is_dir():
        raise ValueError(f"--out {out!r}: {stem.parent} is not a folder")
    h5_path, png_path = stem.with_name(stem.name + ".h5"), stem.with_name(stem.name + ".png")
    for source in inputs:  # never replace the user's data with results
        for target in (h5_path, png_path):
            if Path(source).exists() and target.exists() and target.resolve() == Path(source).resolve():
                raise ValueError(f"--out {out!r} would overwrite the input {source}; choose another stem")
    return h5_path, png_path


def _model(args):
    from fcunet_lib.model_store import load_model

    try:
        return load_model(args.model, folder=args.models_dir)
    except FileNotFoundError as error:
        raise FileNotFoundError(
            f"{error}; ship one with `fcunet train --model {args.model}`, point --models-dir at a folder "
            "holding it, or use --method correlation") from None


def _batch_size(text):
    if text is None:
        return None
    try:
        value = int(text)
    except (TypeError, ValueError):
        value = 0
    if value < 1:
        raise ValueError(f"--batch-size must be a positive integer; got {text!r}")
    return value


def _symmetry_frames(text):
    from fcunet_lib.config import get_scale
    from fcunet_lib.symmetry import FRAME_COUNTS

    if text is None:
        return get_scale("default").evaluation.symmetry_frames
    try:
        value = int(text)
    except (TypeError, ValueError):
        value = None
    if value not in FRAME_COUNTS:
        raise ValueError(f"--symmetry-frames must be one of {', '.join(map(str, FRAME_COUNTS))}; got {text!r}")
    return value


def _find_disks(method, data, probe, calibration, model, batch_size, symmetry_frames):
    from fcunet_lib import disks

    options = {} if batch_size is None else {"batch_size": batch_size}
    if method == "fcunet":
        return disks.find_disks_fcunet(data, probe, model=model, pixel_size=calibration.pixel_size,
                                       symmetry_frames=symmetry_frames, **options)
    return disks.find_disks_correlation(data, probe, pixel_size=calibration.pixel_size, **options)


def _warn_file_calibration(cube, calibration):
    """Say so when the file's own reciprocal calibration disagrees with --pixel-size."""
    cal = getattr(cube, "calibration", None)
    if cal is None or cal.get_Q_pixel_units() != "A^-1" or cal.get_Q_pixel_size() in (None, 1):
        return
    own = float(cal.get_Q_pixel_size())
    if abs(own / calibration.pixel_size - 1) > 1e-3:
        print(f"{_PROG}: warning: the file is calibrated at {own:g} 1/Å per pixel; using --pixel-size "
              f"{calibration.pixel_size:g}", file=sys.stderr)


def _warn_training_domain(model, calibration):
    """Say where the calibration lies outside the network's training library; the sentences, for the file."""
    card = getattr(model, "card", None)
    if card is None:
        return []
    from fcunet_lib.training_domain import card_warnings

    found = card_warnings(card, energy_kv=calibration.energy_kv, semiangle_mrad=calibration.semiangle_mrad)
    for line in found:
        print(f"{_PROG}: warning: {line}", file=sys.stderr)
    return found


def _warn_probe_size(probe, calibration):
    """Say so when the measured probe radius disagrees with energy, semi-angle and pixel size."""
    expected = calibration.probe_radius_px
    if expected is None:
        return
    from fcunet_lib.disks import probe_disk

    measured, _, _ = probe_disk(probe)
    if not 0.8 <= measured / expected <= 1.25:
        print(f"{_PROG}: warning: the probe disk measures {measured:.1f} px in radius; --semiangle-mrad, "
              f"--energy-kv and --pixel-size predict {expected:.1f} px. Check the calibration.",
              file=sys.stderr)


def _provenance(args, region, model):
    card = getattr(model, "card", None) or {}
    return {
        "method": args.method,
        "model": args.model if args.method == "fcunet" else None,
        "model_sha256": card.get("sha256"),
        "symmetry_frames": _symmetry_frames(args.symmetry_frames) if args.method == "fcunet" else None,
        "input": str(Path(args.input).resolve()),
        "probe": str(Path(args.probe).resolve()),
        "reference_region": str(region),
        "reference_region_convention": "x0:x1,y0:y1 scan pixels, half-open; x = rx (first scan axis)",
        "clip_negative": bool(args.clip_negative),
    }


def _write_both(h5_path, png_path, png, save_h5):
    """Both outputs or neither: the PNG is rendered already; undo the .h5 if the PNG fails."""
    from fcunet_lib import atomic

    save_h5()
    try:
        atomic.write_bytes(png_path, png)
    except BaseException:
        Path(h5_path).unlink(missing_ok=True)
        raise


# --------------------------------------------------------------------------- #
# Virtual bright field, summary and overview figure
# --------------------------------------------------------------------------- #
#: Map name → (scale from stored units, display unit).
_UNITS = {"e_xx": (100.0, "%"), "e_yy": (100.0, "%"), "e_xy": (100.0, "%"), "theta": (57.29577951308232, "°")}
_LABELS = {"e_xx": "ε_xx", "e_yy": "ε_yy", "e_xy": "ε_xy", "theta": "θ"}


def virtual_bright_field(data, probe):
    """Counts inside the probe disk at every scan position, one scan row at a time.

    Parameters
    ----------
    data : ndarray of shape (Rx, Ry, Qx, Qy)
    probe : ndarray of shape (Qx, Qy)
        Vacuum probe; its measured disk (centre, radius) is the detector.

    Returns
    -------
    ndarray of shape (Rx, Ry)
    """
    import numpy as np

    from fcunet_lib.disks import probe_disk
    from fcunet_lib.progress import progress

    radius, qx0, qy0 = probe_disk(probe)
    qx, qy = np.mgrid[: probe.shape[0], : probe.shape[1]]
    detector = np.hypot(qx - qx0, qy - qy0) <= radius
    image = np.zeros(data.shape[:2])
    for i in progress(range(data.shape[0]), desc="Virtual bright field", unit="row"):
        image[i] = np.asarray(data[i], dtype=np.float64)[:, detector].sum(axis=-1)
    return image


def map_summary(result):
    """Mean and standard deviation of each map where the fit succeeded, in display units (%, °).

    Returns
    -------
    dict
        ``{"e_xx": (mean, std), ..., "theta": (mean, std)}``.
    """
    import numpy as np

    summary = {}
    for name, (scale, _) in _UNITS.items():
        values = scale * np.asarray(getattr(result, name))[result.mask]
        summary[name] = (float(values.mean()), float(values.std())) if values.size else (np.nan, np.nan)
    return summary


def plot_overview(vbf, result, *, region, summary, title=""):
    """Virtual bright field with the reference region, then e_xx, e_yy, e_xy [%] and θ [°].

    Positions where the lattice fit failed are grey. Colour limits are
    symmetric about 0, at the 99th percentile of |value| (at least 0.1 % and 0.1°).

    Returns
    -------
    matplotlib.figure.Figure
    """
    import numpy as np
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    fig = Figure(figsize=(17, 3.8), layout="constrained")
    axes = fig.subplots(1, 5)
    shown = axes[0].imshow(vbf, cmap="gray")
    axes[0].add_patch(Rectangle((region.y0 - 0.5, region.x0 - 0.5), region.y1 - region.y0,
                                region.x1 - region.x0, fill=False, edgecolor="tab:red", linewidth=1.5))
    axes[0].set_title("virtual bright field\n(red: reference)")
    fig.colorbar(shown, ax=axes[0], shrink=0.8)
    for ax, name in zip(axes[1:], _UNITS):
        scale, unit = _UNITS[name]
        values = np.where(result.mask, scale * np.asarray(getattr(result, name)), np.nan)
        finite = np.abs(values[np.isfinite(values)])
        limit = max(float(np.percentile(finite, 99)) if finite.size else 0.0, 0.1)
        cmap = _bad_grey("RdBu_r")
        shown = ax.imshow(values, cmap=cmap, vmin=-limit, vmax=limit)
        ax.set_title(f"{_LABELS[name]} [{unit}]")
        mean, std = summary[name]
        ax.text(0.03, 0.03, f"mean {_rounded(mean):+.3f} {unit}\nstd {_rounded(std):.3f} {unit}",
                transform=ax.transAxes,
                fontsize=8, va="bottom", bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none"})
        fig.colorbar(shown, ax=ax, shrink=0.8)
    for ax in axes:
        ax.set_xlabel("ry [scan px]")
        ax.set_ylabel("rx [scan px]")
    if title:
        fig.suptitle(title)
    return fig


def _rounded(value, digits=3):
    """``value`` rounded for display, without a sign on zero ("-0.000")."""
    return round(value, digits) + 0.0


def _bad_grey(name):
    from matplotlib import colormaps

    return colormaps[name].with_extremes(bad="0.7")


def _png_bytes(fig):
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    return buffer.getvalue()


if __name__ == "__main__":
    sys.exit(main())
