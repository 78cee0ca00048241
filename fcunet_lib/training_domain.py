"""The conditions a trained network has seen, and whether a user's data lie inside them.

A network trained on the library has seen one set of beam energies and a range
of probe-disk radii, and nothing else. Outside them its disk positions are
untested, and where we tested them they are biased: the shipped FCU-Net,
trained at 300 kV only, pulls the h-BN disks at 80 kV towards the centre by
4–6 % of |g| (``models/checks/radial_bias.json``). :class:`TrainingDomain`
holds those conditions, read from a model card, and :meth:`TrainingDomain.warnings`
says in plain words where a calibration falls outside them::

    for line in card_warnings(model.card, energy_kv=80, semiangle_mrad=3.4):
        print("warning:", line)
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass

from fcunet_lib import checks

__all__ = ["ENERGY_TOLERANCE", "RADIUS_TOLERANCE", "TrainingDomain", "card_warnings"]

#: Relative beam-energy difference [fraction] still counted as a trained energy.
ENERGY_TOLERANCE = 0.05
#: Relative margin [fraction] around the trained probe-disk radii.
RADIUS_TOLERANCE = 0.10


@dataclass(frozen=True)
class TrainingDomain:
    """Beam energies, probe-disk radii and thicknesses of a network's training library.

    Attributes
    ----------
    energies_kv : tuple of float
        Beam energies of the training patterns [kV].
    probe_radius_inv_A : tuple of float
        Smallest and largest probe-disk radius α / λ of the training patterns [1/Å].
    thickness_nm : tuple of float
        Thinnest and thickest training sample [nm].
    max_mistilt_deg : float
        Largest off-zone mistilt of the training patterns [degrees].
    """

    energies_kv: tuple[float, ...]
    probe_radius_inv_A: tuple[float, float]
    thickness_nm: tuple[float, float]
    max_mistilt_deg: float

    @classmethod
    def from_simulation(cls, simulation) -> "TrainingDomain":
        """The domain of a library simulated with ``simulation``.

        Parameters
        ----------
        simulation : fcunet_lib.config.SimulationSettings
            The scale's simulation settings.
        """
        from fcunet_lib.userdata import electron_wavelength

        energies = tuple(sorted(float(e) for e in (simulation.energy_kv, *simulation.other_energies_kv)))
        radii = [semiangle * 1e-3 / electron_wavelength(energy)
                 for energy, semiangle in itertools.product(energies, simulation.semiangles_mrad)]
        return cls(energies_kv=energies,
                   probe_radius_inv_A=(min(radii), max(radii)),
                   thickness_nm=(float(min(simulation.thicknesses_nm)), float(max(simulation.thicknesses_nm))),
                   max_mistilt_deg=float(simulation.max_mistilt_deg))

    @classmethod
    def from_card(cls, card: dict) -> "TrainingDomain":
        """The domain recorded in a model card, or that of the card's scale.

        Cards written before the domain was recorded name their scale; the
        library they were trained on was simulated with that scale's settings
        (``training_run.check_same_plan`` refuses any other).

        Raises
        ------
        ValueError
            If the card records neither a ``training_domain`` nor a known ``scale``.
        """
        recorded = card.get("training_domain")
        if recorded is not None:
            return cls(energies_kv=tuple(float(e) for e in recorded["energies_kv"]),
                       probe_radius_inv_A=tuple(float(r) for r in recorded["probe_radius_inv_A"]),
                       thickness_nm=tuple(float(t) for t in recorded["thickness_nm"]),
                       max_mistilt_deg=float(recorded["max_mistilt_deg"]))
        from fcunet_lib import config

        scale = card.get("scale")
        if scale not in config.SCALE_NAMES:
            raise ValueError(f"model card {card.get('name', '?')!r} records no training_domain and no known "
                             f"scale (got {scale!r}; expected one of {', '.join(config.SCALE_NAMES)})")
        return cls.from_simulation(config.get_scale(scale).simulation)

    def to_dict(self) -> dict:
        """Plain, JSON-ready dict (energies [kV], radii [1/Å], thicknesses [nm], mistilt [degrees])."""
        return {key: list(value) if isinstance(value, tuple) else value for key, value in asdict(self).items()}

    def warnings(self, *, energy_kv=None, semiangle_mrad=None) -> list[str]:
        """Where a calibration falls outside this domain, one sentence each.

        Parameters
        ----------
        energy_kv : float, optional
            The data's beam energy [kV]; unknown if None.
        semiangle_mrad : float, optional
            The data's probe convergence semi-angle [mrad]; its disk radius is
            checked only when ``energy_kv`` is known too.

        Returns
        -------
        list of str
            Empty if every known condition is inside the domain.
        """
        from fcunet_lib.userdata import electron_wavelength

        found = []
        trained = " / ".join(f"{e:g}" for e in self.energies_kv)
        if energy_kv is not None:
            energy_kv = checks.positive_number("energy_kv", energy_kv, "kV", kind="voltage")
            if all(abs(energy_kv / e - 1) > ENERGY_TOLERANCE for e in self.energies_kv):
                found.append(f"the network was trained at {trained} kV only and the data are at {energy_kv:g} kV; "
                             "at an untrained energy its disk positions can be biased radially by several "
                             "per cent of |g| (models/checks/radial_bias.json)")
        if energy_kv is not None and semiangle_mrad is not None:
            semiangle_mrad = checks.positive_number("semiangle_mrad", semiangle_mrad, "mrad")
            radius = semiangle_mrad * 1e-3 / electron_wavelength(energy_kv)
            low, high = self.probe_radius_inv_A
            if not low * (1 - RADIUS_TOLERANCE) <= radius <= high * (1 + RADIUS_TOLERANCE):
                found.append(f"the probe disk's radius, {radius:.3f} 1/Å ({semiangle_mrad:g} mrad at "
                             f"{energy_kv:g} kV), is outside the trained {low:.3f}-{high:.3f} 1/Å")
        return found


def card_warnings(card: dict, *, energy_kv=None, semiangle_mrad=None) -> list[str]:
    """:meth:`TrainingDomain.warnings` for the network of a model card.

    A card that records neither its domain nor its scale (a bare run
    checkpoint's) gives one sentence saying the domain is not checked.

    Parameters
    ----------
    card : dict
        A model card (``model.card``).
    energy_kv, semiangle_mrad : float, optional
        The data's beam energy [kV] and probe convergence semi-angle [mrad].

    Returns
    -------
    list of str
    """
    try:
        domain = TrainingDomain.from_card(card)
    except ValueError as error:
        return [f"{error}; the training domain is not checked"]
    return domain.warnings(energy_kv=energy_kv, semiangle_mrad=semiangle_mrad)
