"""Fig. 1a: the dynamical diffraction library — example triplets and statistics.

Computing and plotting are separate: :func:`library_summary` counts what a
library holds (from its manifest, no arrays), :func:`example_panels` picks and
loads a few jobs that show what varies across the library (thickness, tilt,
convergence semiangle), and :func:`plot_fig1a` draws both.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np

__all__ = ["example_panels", "library_summary", "material_label", "panel_descriptors", "plot_fig1a"]

#: Number of histogram bins of the mistilt magnitude.
TILT_BINS = 8
#: Prototypes shown in the per-prototype panel.
TOP_PROTOTYPES = 12
#: Dynamic range of the logarithmic colour scales (CBED, target).
CBED_DECADES = 4.0
TARGET_DECADES = 2.5

_MRAD_PER_DEG = 1000.0 * math.pi / 180.0


# --------------------------------------------------------------------------- #
# Numbers
# --------------------------------------------------------------------------- #
def material_label(material_id: str) -> str:
    """Short name of a crystal system: ``"CrC.AB_oP8_62_c_c.FeB"`` → ``"CrC"``,
    ``"named-Si0.82Ge0.18"`` → ``"Si0.82Ge0.18"``."""
    if material_id.startswith("named-"):
        return material_id[len("named-"):]
    return material_id.split(".")[0]


def _tilt_magnitude_mrad(record: dict) -> float:
    return float(math.hypot(*record["tilt_mrad"]))


def library_summary(lib, *, tilt_bins: int = TILT_BINS) -> dict:
    """Count what a (possibly partly built) library holds.

    Parameters
    ----------
    lib : fcunet_lib.library.Library
        An opened library (:func:`fcunet_lib.library.open_library`).
    tilt_bins : int
        Bins of the mistilt histogram between 0 and the plan's largest
        mistilt.

    Returns
    -------
    dict
        Counts of finished *patterns* (one job = one pattern per thickness)
        per split, zone, orientation, prototype, thickness [nm] and semiangle
        [mrad]; the histogram of mistilt magnitudes [mrad] of the mistilted
        zone-axis jobs; the simulation setting and sampling from the
        library's metadata. ``complete`` says whether every planned job has
        finished.

    Raises
    ------
    ValueError
        If the library has no finished job.
    """
    records = lib.records
    if not records:
        raise ValueError(f"{lib.folder} has no finished job: build the library first")
    metadata = lib.metadata
    sim = metadata.get("simulation_settings", {})
    n_thick = len(records[0]["thicknesses_nm"])
    patterns = [(r, n_thick) for r in records]

    def per(key, keys=None):
        counted = Counter()
        for record, n in patterns:
            counted[key(record)] += n
        keys = sorted(counted) if keys is None else keys
        return {k: int(counted.get(k, 0)) for k in keys}

    splits = ("train", "validation", "test")
    materials_by_split = {s: sorted({r["material_id"] for r in records if r["split"] == s})
                          for s in splits}
    prototypes = per(lambda r: r["prototype"])
    materials_by_prototype = {p: len({r["material_id"] for r in records if r["prototype"] == p})
                              for p in prototypes}
    ranked = sorted(prototypes, key=lambda p: (-prototypes[p], p))
    thicknesses = sorted({t for r in records for t in r["thicknesses_nm"]})
    mistilted = [r for r in records if r["orientation"] == "zone_axis" and r["zone"] == "off_zone"]
    tilts = np.array([_tilt_magnitude_mrad(r) for r in mistilted])
    top = float(sim.get("max_mistilt_deg", 0.0)) * _MRAD_PER_DEG
    if tilts.size and tilts.max() > top:
        top = float(tilts.max())
    edges = np.linspace(0.0, top if top > 0 else 1.0, tilt_bins + 1)
    hist = np.histogram(tilts, bins=edges)[0] if tilts.size else np.zeros(tilt_bins, int)
    return {
        "n_jobs": len(records),
        "n_jobs_planned": len(lib.jobs),
        "complete": len(records) == len(lib.jobs),
        "n_patterns": n_thick * len(records),
        "n_materials": len({r["material_id"] for r in records}),
        "n_prototypes": len(prototypes),
        "pattern_size": int(sim.get("pattern_size", lib.group["cbed"].shape[-1])),
        "reciprocal_pixel_size_inv_A": metadata.get("reciprocal_pixel_size_inv_A"),
        "patterns_per_split": per(lambda r: r["split"], splits),
        "materials_per_split": {s: len(ids) for s, ids in materials_by_split.items()},
        "patterns_per_zone": per(lambda r: r["zone"], ("on_zone", "off_zone")),
        "patterns_per_split_zone": {
            s: per(lambda r, s=s: r["zone"] if r["split"] == s else None,
                   ("on_zone", "off_zone")) for s in splits},
        "jobs_per_orientation": {
            "on_zone_axis": sum(r["zone"] == "on_zone" for r in records),
            "mistilted_zone_axis": len(mistilted),
            "random": sum(r["orientation"] == "random" for r in records)},
        "patterns_per_prototype": [
            {"prototype": p, "patterns": prototypes[p], "materials": materials_by_prototype[p]}
            for p in ranked],
        "thickness_nm": {"values": thicknesses,
                         "patterns": [sum(t in r["thicknesses_nm"] for r in records)
                                      for t in thicknesses]},
        "semiangle_mrad": _as_value_counts(per(lambda r: float(r["semiangle_mrad"]))),
        "energy_kv": sorted({float(r["energy_kv"]) for r in records}),
        "mistilt_mrad": {
            "edges": edges.tolist(), "counts": [int(c) for c in hist],
            "min": float(tilts.min()) if tilts.size else None,
            "max": float(tilts.max()) if tilts.size else None,
            "mean": float(tilts.mean()) if tilts.size else None,
            "planned_range_deg": [sim.get("min_off_zone_deg"), sim.get("max_mistilt_deg")]},
        "simulation_setting": metadata.get("simulation_setting", {}),
        "simulation_settings": sim,
    }


def _as_value_counts(counts: dict) -> dict:
    values = sorted(counts)
    return {"values": values, "patterns": [counts[v] for v in values]}


def _first(records, **conditions):
    for record in records:
        if all(record.get(k) == v for k, v in conditions.items()):
            return record
    return None


def _choose_material(lib, material_id):
    if material_id is not None:
        if not lib.records_where(material_id=material_id):
            known = sorted({r["material_id"] for r in lib.records})
            raise ValueError(f"material {material_id!r} has no finished job: expected one of "
                             f"{', '.join(known)}")
        return material_id
    for record in lib.records:  # first system with an on-zone job and its mistilted copy
        if record["zone"] != "on_zone":
            continue
        twin = _first(lib.records, material_id=record["material_id"], zone="off_zone",
                      orientation="zone_axis", zone_axis=record["zone_axis"])
        if twin is not None:
            return record["material_id"]
    return lib.records[0]["material_id"]


def _panel(lib, record, thickness_index, kind):
    arrays = lib.job_arrays(record)
    thickness = record["thicknesses_nm"][thickness_index]
    cbed = arrays["cbed"][thickness_index].astype(np.float64)
    probe = arrays["probe"].astype(np.float64)
    return {
        "kind": kind,
        "job_index": int(record["index"]),
        "material_id": record["material_id"],
        "material": material_label(record["material_id"]),
        "prototype": record["prototype"],
        "orientation": record["orientation"],
        "zone_axis": record["zone_axis"],
        "zone": record["zone"],
        "tilt_mrad": [float(t) for t in record["tilt_mrad"]],
        "semiangle_mrad": float(record["semiangle_mrad"]),
        "thickness_nm": float(thickness),
        "split": record["split"],
        "fraction_in_window": float(cbed.sum() / probe.sum()),
        "cbed": cbed,
        "target": arrays["target"][thickness_index].astype(np.float64),
        "probe": probe,
    }


def example_panels(lib, *, material_id: str | None = None) -> list[dict]:
    """Pick and load example triplets that show what varies in the library.

    One crystal system is followed through: its on-zone job at the thinnest,
    middle and thickest thickness; the mistilted copy of that zone axis and
    its random orientation (middle thickness); then, for every other
    convergence semiangle of the library, an on-zone job with that
    semiangle (the same system where it has one).

    Parameters
    ----------
    lib : fcunet_lib.library.Library
    material_id : str, optional
        Crystal system to follow; default: the first with an on-zone job and
        its mistilted copy.

    Returns
    -------
    list of dict
        One per panel: ``kind`` (``"thickness"``, ``"tilt"``,
        ``"semiangle"``), the job's descriptors (material, zone axis,
        ``tilt_mrad``, ``semiangle_mrad``, ``thickness_nm``, split, ...),
        ``fraction_in_window`` (CBED sum over probe sum) and the arrays
        ``cbed``, ``target`` and ``probe`` [N, N].

    Raises
    ------
    ValueError
        If ``material_id`` has no finished job.
    """
    if not lib.records:
        raise ValueError(f"{lib.folder} has no finished job: build the library first")
    material = _choose_material(lib, material_id)
    own = lib.records_where(material_id=material)
    base = _first(own, zone="on_zone") or own[0]
    n_thick = len(base["thicknesses_nm"])
    middle = n_thick // 2
    panels = [_panel(lib, base, i, "thickness") for i in sorted({0, middle, n_thick - 1})]
    mistilted = _first(own, zone="off_zone", orientation="zone_axis",
                       zone_axis=base["zone_axis"])
    rotated = _first(own, orientation="random")
    panels += [_panel(lib, r, middle, "tilt") for r in (mistilted, rotated) if r is not None]
    for semiangle in sorted({r["semiangle_mrad"] for r in lib.records} - {base["semiangle_mrad"]}):
        record = (_first(own, zone="on_zone", semiangle_mrad=semiangle)
                  or _first(lib.records, zone="on_zone", semiangle_mrad=semiangle)
                  or _first(lib.records, semiangle_mrad=semiangle))
        panels.append(_panel(lib, record, middle, "semiangle"))
    return panels


def panel_descriptors(panels: list[dict]) -> list[dict]:
    """The panels without their arrays (for the result file)."""
    return [{k: v for k, v in p.items() if k not in ("cbed", "target", "probe")} for p in panels]


# --------------------------------------------------------------------------- #
# Figure
# --------------------------------------------------------------------------- #
def _extent(n: int, pixel_inv_A: float):
    low, high = (-(n // 2) - 0.5) * pixel_inv_A, (n - 1 - n // 2 + 0.5) * pixel_inv_A
    return (low, high, high, low)  # [qx, qy] arrays: qx down the rows, qy across


def _panel_title(panel: dict) -> str:
    if panel["orientation"] == "random":
        where = "random orientation"
    else:
        axis = "".join(str(v) for v in panel["zone_axis"])
        tilt = math.hypot(*panel["tilt_mrad"])
        where = f"[{axis}] on zone" if tilt == 0 else f"[{axis}] + {tilt:.0f} mrad tilt"
    return (f"{panel['material']} {where}\nt = {panel['thickness_nm']:g} nm, "
            f"α = {panel['semiangle_mrad']:g} mrad")


def _log_image(ax, image, vmax, decades, cmap, extent):
    from matplotlib.colors import LogNorm

    vmin = vmax * 10.0**-decades
    return ax.imshow(np.clip(image, vmin, None), norm=LogNorm(vmin=vmin, vmax=vmax), cmap=cmap,
                     extent=extent, interpolation="nearest")


def _target_vmax(panels) -> float:
    """Brightest target spot away from g = 0 (the central spot, ∝ the mean
    inner potential, would otherwise leave the other spots near black)."""
    values = []
    for panel in panels:
        target = panel["target"].copy()
        n0, n1 = target.shape
        target[n0 // 2 - 2:n0 // 2 + 3, n1 // 2 - 2:n1 // 2 + 3] = 0
        values.append(target.max())
    top = max(values)
    return top if top > 0 else max(p["target"].max() for p in panels) or 1.0


def _draw_examples(figure, grid, panels, pixel_inv_A):
    n = panels[0]["cbed"].shape[0]
    extent = _extent(n, pixel_inv_A)
    cbed_max = max(p["cbed"].max() for p in panels)
    target_max = _target_vmax(panels)
    rows = [("CBED (log)", "cbed", lambda ax, p: _log_image(ax, p["cbed"], cbed_max, CBED_DECADES,
                                                            "inferno", extent),
             "intensity / probe max"),
            ("target (log)", "target", lambda ax, p: _log_image(ax, p["target"], target_max,
                                                               TARGET_DECADES, "viridis", extent),
             "|V_g|·t [V·Å]"),
            ("vacuum probe", "probe", lambda ax, p: ax.imshow(p["probe"], cmap="gray", vmin=0,
                                                              vmax=1, extent=extent,
                                                              interpolation="nearest"),
             "intensity / max")]
    for row, (name, _, draw, unit) in enumerate(rows):
        image = None
        for column, panel in enumerate(panels):
            ax = figure.add_subplot(grid[row, column])
            image = draw(ax, panel)
            if row == 0:
                ax.set_title(_panel_title(panel), fontsize=8)
            if column == 0:
                ax.set_ylabel(f"{name}\nq_x [Å⁻¹]", fontsize=8)
            else:
                ax.set_yticklabels([])
            if row == len(rows) - 1:
                ax.set_xlabel("q_y [Å⁻¹]", fontsize=8)
            else:
                ax.set_xticklabels([])
            ax.tick_params(labelsize=7)
        colorbar = figure.colorbar(image, cax=figure.add_subplot(grid[row, len(panels)]))
        colorbar.set_label(unit, fontsize=8)
        colorbar.ax.tick_params(labelsize=7)


def _bar_labels(ax, bars, values):
    for bar, value in zip(bars, values):
        ax.annotate(str(value), (bar.get_x() + bar.get_width() / 2, bar.get_y() + bar.get_height()),
                    xytext=(0, 2), textcoords="offset points", ha="center", fontsize=7)


def _draw_splits(ax, summary):
    splits = list(summary["patterns_per_split"])
    on = [summary["patterns_per_split_zone"][s]["on_zone"] for s in splits]
    off = [summary["patterns_per_split_zone"][s]["off_zone"] for s in splits]
    labels = [f"{s}\n({summary['materials_per_split'][s]})" for s in splits]
    ax.bar(labels, on, color="tab:blue", label="on zone")
    bars = ax.bar(labels, off, bottom=on, color="tab:orange", label="off zone")
    _bar_labels(ax, bars, np.add(on, off))
    ax.tick_params(axis="x", labelsize=8)
    ax.set_ylim(0, max(np.add(on, off).max(), 1) * 1.3)
    ax.set_ylabel("patterns")
    ax.set_title("(b) patterns per split (systems)", loc="left", fontsize=9)
    ax.legend(fontsize=7, frameon=False, loc="upper right")


def _draw_prototypes(ax, summary, top):
    rows = summary["patterns_per_prototype"][:top]
    labels = [r["prototype"] for r in rows][::-1]
    values = [r["patterns"] for r in rows][::-1]
    ax.barh(labels, values, color="0.5")
    ax.tick_params(axis="y", labelsize=6)
    ax.set_xlabel("patterns")
    shown = f"top {len(rows)} of {summary['n_prototypes']}" if summary["n_prototypes"] > top \
        else f"{summary['n_prototypes']}"
    ax.set_title(f"(c) per prototype ({shown})", loc="left", fontsize=9)


def _draw_thickness(ax, summary):
    values = summary["thickness_nm"]["values"]
    step = min(np.diff(values)) if len(values) > 1 else max(values[0], 1.0)
    ax.bar(values, summary["thickness_nm"]["patterns"], width=0.8 * step, color="tab:green")
    ax.set_xlabel("thickness [nm]")
    ax.set_ylabel("patterns")
    ax.set_title(f"(d) thickness ({len(values)} values)", loc="left", fontsize=9)


def _draw_tilts(ax, summary):
    from matplotlib.ticker import MaxNLocator

    tilt = summary["mistilt_mrad"]
    edges = np.asarray(tilt["edges"])
    ax.stairs(tilt["counts"], edges, fill=True, color="tab:orange", alpha=0.8,
              label="mistilted zone axes")
    orientations = summary["jobs_per_orientation"]
    ax.bar(0, orientations["on_zone_axis"], width=0.6 * (edges[1] - edges[0]), color="tab:blue",
           label="on zone (0 mrad)")
    ax.set_xlim(-0.5 * (edges[1] - edges[0]), edges[-1])
    ax.set_xlabel("mistilt from the zone axis [mrad]\n(top axis: degrees)")
    ax.set_ylabel("jobs (thickness series)")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    secondary = ax.secondary_xaxis("top", functions=(lambda m: m / _MRAD_PER_DEG,
                                                     lambda d: d * _MRAD_PER_DEG))
    secondary.tick_params(labelsize=7)
    ax.set_title(f"(e) mistilt ({orientations['random']} random orientations not shown)",
                 loc="left", fontsize=9)
    ax.legend(fontsize=7, frameon=False, loc="upper center")


def _draw_semiangles(ax, summary):
    semi = summary["semiangle_mrad"]
    bars = ax.bar([f"{v:g}" for v in semi["values"]], semi["patterns"], color="tab:purple")
    _bar_labels(ax, bars, semi["patterns"])
    ax.set_ylim(0, max(semi["patterns"]) * 1.2)
    ax.set_xlabel("semiangle [mrad]")
    ax.set_ylabel("patterns")
    ax.set_title("(f) semiangle", loc="left", fontsize=9)


def _setting_line(summary, library_hash):
    setting = summary["simulation_setting"]
    energies = ", ".join(f"{e:g}" for e in summary["energy_kv"])
    lattice = ("static lattice" if not setting.get("frozen_phonons")
               else f"{setting['frozen_phonons']} frozen phonons")
    pixel = summary["reciprocal_pixel_size_inv_A"]
    multislice = (f"multislice {setting.get('gpts', '?')} pts / 46.08 Å "
                  f"(Δx = {setting.get('sampling_A', float('nan')):.3f} Å), "
                  f"{setting.get('slice_thickness_A', '?')} Å slices, "
                  f"{setting.get('projection', '?')} projection, {lattice}")
    parts = [f"{energies} kV", multislice, f"{summary['pattern_size']}² px at {pixel:.4f} Å⁻¹"]
    if library_hash:
        parts.append(f"library {library_hash}")
    return "; ".join(parts)


def plot_fig1a(panels: list[dict], summary: dict, *, library_hash: str | None = None,
               top_prototypes: int = TOP_PROTOTYPES):
    """Draw Fig. 1a from example panels and the library summary.

    Parameters
    ----------
    panels : list of dict
        Output of :func:`example_panels`.
    summary : dict
        Output of :func:`library_summary`.
    library_hash : str, optional
        Shown in the title.
    top_prototypes : int
        Prototypes shown in panel (c).

    Returns
    -------
    matplotlib.figure.Figure
        (a) for each example, its CBED pattern (log scale), structure-factor
        target (log scale; g = 0 may saturate) and vacuum probe, on axes in
        Å⁻¹, one colour scale per row; (b)–(f) the library statistics:
        patterns per split (on/off zone), per prototype, per thickness, the
        mistilt histogram [mrad, degrees on top] and patterns per semiangle.
    """
    if not panels:
        raise ValueError("panels: expected at least one example panel")
    from matplotlib.figure import Figure

    n = len(panels)
    figure = Figure(figsize=(max(13.0, 2.0 * n + 1.2), 11.5), layout="constrained")
    outer = figure.add_gridspec(2, 1, height_ratios=(3.0, 1.25))
    examples = outer[0].subgridspec(3, n + 1, width_ratios=[1] * n + [0.06])
    _draw_examples(figure, examples, panels, summary["reciprocal_pixel_size_inv_A"])
    stats = outer[1].subgridspec(1, 5, width_ratios=(1, 1.3, 1, 1.2, 0.8))
    _draw_splits(figure.add_subplot(stats[0]), summary)
    _draw_prototypes(figure.add_subplot(stats[1]), summary, top_prototypes)
    _draw_thickness(figure.add_subplot(stats[2]), summary)
    _draw_tilts(figure.add_subplot(stats[3]), summary)
    _draw_semiangles(figure.add_subplot(stats[4]), summary)
    status = "" if summary["complete"] else \
        f" (partial: {summary['n_jobs']} of {summary['n_jobs_planned']} jobs finished)"
    figure.suptitle(
        f"Fig. 1a — dynamical diffraction library: {summary['n_patterns']} CBED patterns of "
        f"{summary['n_materials']} crystal systems{status}\n"
        f"(a) examples: thickness series, mistilt and random orientation, semiangles\n"
        f"{_setting_line(summary, library_hash)}", fontsize=10)
    return figure
