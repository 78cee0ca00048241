"""The training domain of a network (beam energies, probe-disk radii) and the warnings outside it."""

from __future__ import annotations

import pytest

from fcunet_lib import config, model_store
from fcunet_lib.training_domain import TrainingDomain
from fcunet_lib.userdata import electron_wavelength


def _default_domain():
    return TrainingDomain.from_simulation(config.get_scale("default").simulation)


def test_from_simulation_reads_energies_and_disk_radii():
    simulation = config.get_scale("default").simulation
    domain = _default_domain()
    assert domain.energies_kv == (simulation.energy_kv,)
    radii = [a * 1e-3 / electron_wavelength(simulation.energy_kv) for a in simulation.semiangles_mrad]
    assert domain.probe_radius_inv_A == pytest.approx((min(radii), max(radii)))
    assert domain.thickness_nm == (min(simulation.thicknesses_nm), max(simulation.thicknesses_nm))


def test_every_energy_and_semiangle_counts():
    import dataclasses

    simulation = dataclasses.replace(config.get_scale("default").simulation, energy_kv=300.0,
                                     other_energies_kv=(80.0,), semiangles_mrad=(1.0, 4.0))
    domain = TrainingDomain.from_simulation(simulation)
    assert domain.energies_kv == (80.0, 300.0)
    # radius α / λ: the narrowest disk is 1 mrad at 80 kV (longest wavelength), the widest 4 mrad at 300 kV
    assert domain.probe_radius_inv_A == pytest.approx((1e-3 / electron_wavelength(80), 4e-3 / electron_wavelength(300)))
    assert domain.warnings(energy_kv=80, semiangle_mrad=3.4) == []


def test_inside_the_domain_no_warning():
    domain = _default_domain()
    energy = domain.energies_kv[0]
    assert domain.warnings(energy_kv=energy, semiangle_mrad=2.0) == []
    assert domain.warnings(energy_kv=energy * 1.03) == []  # within ENERGY_TOLERANCE
    assert domain.warnings() == []  # nothing known, nothing to say


def test_another_energy_is_named():
    (line,) = _default_domain().warnings(energy_kv=80)
    assert "trained at 300 kV only" in line and "80 kV" in line


def test_disk_outside_the_trained_radii_is_named():
    domain = _default_domain()
    energy = domain.energies_kv[0]
    (line,) = domain.warnings(energy_kv=energy, semiangle_mrad=12.0)
    assert "12 mrad at 300 kV" in line and "outside the trained" in line
    (line,) = domain.warnings(energy_kv=energy, semiangle_mrad=0.3)
    assert "outside the trained" in line
    # a semi-angle without an energy has no radius in 1/Å: not checked
    assert domain.warnings(semiangle_mrad=12.0) == []


def test_card_round_trip_and_scale_fallback():
    domain = _default_domain()
    assert TrainingDomain.from_card({"training_domain": domain.to_dict()}) == domain
    assert TrainingDomain.from_card({"scale": "default"}) == domain
    with pytest.raises(ValueError, match="records no training_domain and no known scale"):
        TrainingDomain.from_card({"name": "mystery"})


@pytest.mark.parametrize("name", model_store.shipped_models())
def test_shipped_cards_have_a_domain(name):
    card = model_store.read_card(name)
    domain = TrainingDomain.from_card(card)
    assert domain.energies_kv and domain.probe_radius_inv_A[0] < domain.probe_radius_inv_A[1]


def test_bad_energy_is_refused():
    with pytest.raises(ValueError, match="energy_kv must be a positive voltage"):
        _default_domain().warnings(energy_kv=-80)


def test_card_warnings_for_a_checkpoint_card_says_unchecked():
    from fcunet_lib.training_domain import card_warnings

    assert card_warnings({"scale": "default"}, energy_kv=300, semiangle_mrad=2) == []
    (line,) = card_warnings({"name": "run", "options": {}}, energy_kv=80)
    assert "the training domain is not checked" in line


def test_cli_warns_and_returns_the_sentences(capsys):
    from types import SimpleNamespace

    from fcunet_lib import strain_cli, userdata

    model = SimpleNamespace(card={"scale": "default"})
    found = strain_cli._warn_training_domain(model, userdata.Calibration(0.0217, energy_kv=80, semiangle_mrad=12))
    err = capsys.readouterr().err
    assert len(found) == 2 and err.count("warning:") == 2 and "80 kV" in err
    assert strain_cli._warn_training_domain(None, userdata.Calibration(0.0217, energy_kv=80)) == []
