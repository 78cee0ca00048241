"""Fig. 6: the prototype distribution and the atomic numbers of four prototypes.

Plots only: the numbers come from :func:`fcunet_lib.materials.prototype_summary`.
"""

from __future__ import annotations

import numpy as np

__all__ = ["plot_fig6"]

#: Largest number of prototypes drawn in panel a (the paper shows 250).
MAX_BARS = 250
_PANELS = "bcde"
_ROLE_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728")


def plot_fig6(summary: dict, *, max_bars: int = MAX_BARS):
    """Draw Fig. 6 from its summary numbers.

    Parameters
    ----------
    summary : dict
        Output of :func:`fcunet_lib.materials.prototype_summary`.
    max_bars : int
        Most prototypes shown in panel a.

    Returns
    -------
    matplotlib.figure.Figure
        (a) share of each prototype in the candidate distribution (bars),
        share among the selected systems (blue line) and cumulative coverage
        of the distribution (right axis), prototypes sorted by share;
        (b)–(e) atomic number Z placed on each site role of the candidates
        sharing the CaTiO3, FeB, Fe3C and Zn3P2 prototypes (stacked
        histogram) and of the selected systems (markers), or a note where a
        prototype has no data.  The title states where the data come from.

    Raises
    ------
    ValueError
        If ``summary`` lacks the keys :func:`prototype_summary` writes.
    """
    missing = {"prototypes", "coverage", "fig6", "source_note", "n_systems"} - set(summary)
    if missing:
        raise ValueError(f"summary lacks {sorted(missing)}: expected prototype_summary's output")
    from matplotlib.figure import Figure

    figure = Figure(figsize=(13, 8), layout="constrained")
    grid = figure.add_gridspec(2, 4, height_ratios=(1.2, 1.0))
    _panel_distribution(figure.add_subplot(grid[0, :]), summary, max_bars)
    for column, (name, info) in enumerate(summary["fig6"].items()):
        _panel_atomic_numbers(figure.add_subplot(grid[1, column]), _PANELS[column], name, info)
    figure.suptitle(
        f"Fig. 6 — {summary['n_systems']} crystal systems selected by prototype\n"
        f"Data: {summary['source_note']}",
        fontsize=11,
    )
    return figure


def _panel_distribution(ax, summary: dict, max_bars: int) -> None:
    rows = summary["prototypes"][:max_bars]
    rank = np.arange(1, len(rows) + 1)
    weight = 100 * np.array([r["weight_share"] for r in rows])
    chosen = 100 * np.array([r["selected_share"] for r in rows])
    ax.bar(rank, weight, width=0.9, color="0.7", label="candidate distribution (per prototype)")
    ax.plot(rank, chosen, color="tab:blue", lw=1.2, marker="." if len(rows) <= 60 else None,
            label=f"selected systems (n = {summary['n_systems']})")
    ax.set_xlim(0.4, len(rows) + 0.6)
    ax.set_ylabel("share of systems [%]")
    if len(rows) <= 40:
        ax.set_xticks(rank, [r["formula"] for r in rows], rotation=90, fontsize=7)
        ax.set_xlabel("prototype (example compound), sorted by share")
    else:
        ax.set_xlabel("prototype rank, sorted by share")
    twin = ax.twinx()
    coverage = 100 * np.asarray(summary["coverage"][: len(rows)])
    twin.plot(rank, coverage, color="black", lw=1.0, label="cumulative coverage")
    twin.set_ylim(0, 101)
    twin.set_ylabel("cumulative coverage [%]")
    n95 = summary.get("n_prototypes_95")
    if n95 is not None and n95 <= len(rows):
        twin.axvline(n95, color="black", ls=":", lw=0.8)
        twin.annotate(f"95 % in {n95} prototypes", (n95, 95), xytext=(4, -12),
                      textcoords="offset points", fontsize=8)
    handles = ax.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
    ax.legend(handles=handles, loc="center right", fontsize=8, frameon=False)
    ax.set_title(f"(a) systems per prototype ({summary.get('n_prototypes', len(rows))} prototypes)",
                 loc="left", fontsize=10)


def _panel_atomic_numbers(ax, letter: str, name: str, info: dict) -> None:
    title = f"({letter}) {name} prototype"
    selected = info.get("z") or {}
    candidates = info.get("candidate_z") or selected
    if not info.get("present") or not any(candidates.values()):
        ax.set_title(title, loc="left", fontsize=10)
        note = info.get("note") or f"no systems of the {name} prototype"
        ax.text(0.5, 0.5, _wrap(note, 34), ha="center", va="center", fontsize=8,
                transform=ax.transAxes, color="firebrick")
        ax.set_xticks([])
        ax.set_yticks([])
        return
    roles = [role for role in info["roles"] if candidates.get(role)]
    colours = dict(zip(roles, _ROLE_COLOURS))
    counts, _, _ = ax.hist([candidates[role] for role in roles], bins=np.arange(0.5, 97.5, 2.0),
                           stacked=True, color=[colours[r] for r in roles], alpha=0.6,
                           label=[f"{role} site" for role in roles])
    top = float(np.max(counts)) if np.size(counts) else 1.0
    for offset, role in enumerate(roles):  # selected systems: markers above the histogram
        z = selected.get(role, [])
        ax.plot(z, np.full(len(z), top * (1.08 + 0.07 * offset)), "v", ms=5, mec="black", mew=0.5,
                color=colours[role], label="selected" if offset == 0 else None)
    ax.set_xlim(0, 97)
    ax.set_ylim(0, top * (1.15 + 0.07 * len(roles)))
    ax.set_xlabel("atomic number Z")
    ax.set_ylabel("candidates" if "candidate_z" in info else "systems")
    ax.legend(fontsize=7, frameon=False, loc="center right")
    n_candidates = info.get("n_candidates")
    counts_text = f"{n_candidates} candidates, " if n_candidates is not None else ""
    ax.set_title(f"{title}\n{counts_text}{info.get('n_systems', 0)} selected", loc="left",
                 fontsize=10)


def _wrap(text: str, width: int) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width))
