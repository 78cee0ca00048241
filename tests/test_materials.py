"""Tests of the materials-selection stage (offline stand-in, online parsing, Fig. 6 plot)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fcunet_lib import chemistry
from fcunet_lib import materials as M
from fcunet_lib import materials_online as O
from fcunet_lib.config import MaterialsSettings, get_scale

FIXTURE = Path(__file__).parent / "fixtures" / "mp_summary_response.json"
TINY = MaterialsSettings(n_systems=6, n_prototypes=5, candidates_per_prototype=3,
                         substitution_threshold=3e-3, max_sites=16)
FIG6_KEYS = {"AB3C_cP5_221_a_c_b.CaTiO3", "AB_oP8_62_c_c.FeB", "AB3_oP16_62_c_cd.Fe3C"}


@pytest.fixture(scope="module")
def tiny_table():
    return M.select_materials(TINY, seed=0)


@pytest.fixture(scope="module")
def mp_entries():
    return O.parse_mp_summaries(FIXTURE)


def _nearest_distance(structure) -> float:
    return float(np.min(structure.get_neighbor_list(r=4.0)[3]))


# --------------------------------------------------------------------------- #
# Named materials
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("name, a", [("Si", 5.431), ("Ge", 5.658), ("si", 5.431)])
def test_named_diamond_lattice_constants(name, a):
    structure = M.named_structure(name)
    assert len(structure) == 8
    assert structure.lattice.abc == pytest.approx((a, a, a))
    assert _nearest_distance(structure) == pytest.approx(a * math.sqrt(3) / 4, rel=1e-9)


def test_named_hbn_cell_and_bond():
    structure = M.named_structure("hBN")
    assert structure.lattice.a == pytest.approx(2.504)
    assert structure.lattice.c == pytest.approx(6.661)
    assert structure.lattice.gamma == pytest.approx(120.0)
    assert structure.composition.reduced_formula == "BN" and len(structure) == 4
    assert _nearest_distance(structure) == pytest.approx(2.504 / math.sqrt(3), rel=1e-9)


@pytest.mark.parametrize("bad", ["GaAs", "", 3, None])
def test_named_structure_rejects_unknown(bad):
    with pytest.raises(ValueError, match="expected one of Si, Ge, h-BN"):
        M.named_structure(bad)


@pytest.mark.parametrize("x, a", [(0.0, 5.431), (1.0, 5.658), (0.18, 0.82 * 5.431 + 0.18 * 5.658)])
def test_vegard_interpolates_between_si_and_ge(x, a):
    assert M.vegard_lattice_constant(x) == pytest.approx(a, rel=1e-12)


@pytest.mark.parametrize("bad", [-0.01, 1.01, float("nan"), float("inf"), "half"])
def test_fraction_outside_unit_interval_is_rejected(bad):
    with pytest.raises(ValueError, match="x_ge"):
        M.vegard_lattice_constant(bad)
    with pytest.raises(ValueError, match="x_ge"):
        M.sige_alloy(bad)


def test_random_alloy_composition_lattice_and_seed():
    alloy = M.sige_alloy(0.25, mode="random", supercell=(2, 2, 1), seed=3)
    assert len(alloy) == 32
    assert alloy.composition["Ge"] == 8 and alloy.composition["Si"] == 24
    a = M.vegard_lattice_constant(0.25)
    assert alloy.lattice.abc == pytest.approx((2 * a, 2 * a, a))
    same = M.sige_alloy(0.25, mode="random", supercell=(2, 2, 1), seed=3)
    other = M.sige_alloy(0.25, mode="random", supercell=(2, 2, 1), seed=4)
    ge_sites = lambda s: [i for i, site in enumerate(s) if site.specie.symbol == "Ge"]  # noqa: E731
    assert ge_sites(alloy) == ge_sites(same)
    assert ge_sites(alloy) != ge_sites(other)


def test_virtual_crystal_has_partial_occupancy():
    alloy = M.sige_alloy(0.18, mode="virtual")
    assert len(alloy) == 8 and not alloy.is_ordered
    assert alloy[0].species.get_atomic_fraction("Ge") == pytest.approx(0.18)
    assert alloy.lattice.a == pytest.approx(M.vegard_lattice_constant(0.18))
    assert M.sige_alloy(1.0, mode="virtual").composition.reduced_formula == "Ge"


@pytest.mark.parametrize("kwargs, match", [({"mode": "ordered"}, "mode"),
                                           ({"supercell": (2, 0, 1)}, "supercell"),
                                           ({"supercell": (2, 2)}, "supercell")])
def test_sige_alloy_rejects_bad_options(kwargs, match):
    with pytest.raises(ValueError, match=match):
        M.sige_alloy(0.5, **kwargs)


def test_named_materials_records():
    records = {m.id: m for m in M.named_materials(x_ge=0.18, seed=1)}
    assert set(records) == {"named-Si", "named-Ge", "named-h-BN", "named-Si0.82Ge0.18"}
    assert records["named-Ge"].a == pytest.approx(5.658)
    assert records["named-h-BN"].c == pytest.approx(6.661)
    assert records["named-Si0.82Ge0.18"].a == pytest.approx(2 * M.vegard_lattice_constant(0.18))
    assert all(m.source == "named" for m in records.values())


# --------------------------------------------------------------------------- #
# Prototypes
# --------------------------------------------------------------------------- #
def test_prototype_library_and_fig6_status():
    library = M.prototype_library()
    assert len(library) == 288
    assert len({p.key for p in library}) == 288
    assert all(p.n_sites <= 16 for p in M.prototype_library(max_sites=16))
    status = M.fig6_status()
    assert {name for name, s in status.items() if s["present"]} == {"CaTiO3", "FeB", "Fe3C"}
    assert status["Zn3P2"]["key"] is None and "not among" in status["Zn3P2"]["note"]


def test_get_prototype_by_name_label_and_errors():
    perovskite = M.get_prototype("CaTiO3")
    assert perovskite.key == "AB3C_cP5_221_a_c_b.CaTiO3" and perovskite.spacegroup == 221
    assert M.get_prototype("AB3_oP16_62_c_cd").formula == "Fe3C"
    assert M.get_prototype("AB_oP8_62_c_c.FeB").n_sites == 8
    with pytest.raises(ValueError, match="ambiguous"):
        M.get_prototype("AB_oP8_62_c_c")
    with pytest.raises(ValueError, match="unknown prototype"):
        M.get_prototype("XYZ_nope")
    with pytest.raises(ValueError, match="unknown prototype"):
        M.get_prototype("Zn3P2")


def test_choose_prototypes_includes_fig6_and_is_seeded():
    chosen = M.choose_prototypes(8, max_sites=12, seed=0)
    keys = [p.key for p in chosen]
    assert len(keys) == 8 and FIG6_KEYS <= set(keys)
    assert all(p.n_sites <= 12 for p in chosen if p.key not in FIG6_KEYS)  # Fe3C has 16
    assert keys == [p.key for p in M.choose_prototypes(8, max_sites=12, seed=0)]
    assert keys != [p.key for p in M.choose_prototypes(8, max_sites=12, seed=1)]
    assert {p.key for p in M.choose_prototypes(2, max_sites=12)} == FIG6_KEYS
    with pytest.raises(ValueError, match="n_prototypes"):
        M.choose_prototypes(0, max_sites=12)


def test_decorations_identity_first_sorted_and_charge_balanced():
    perovskite = M.get_prototype("CaTiO3")
    found = M.decorations(perovskite, threshold=3e-3)
    assert found[0].route == "identity" and found[0].mapping == {"Ca": "Ca", "Ti": "Ti", "O": "O"}
    probabilities = [d.probability for d in found[1:]]
    assert probabilities == sorted(probabilities, reverse=True) and len(found) > 5
    assert {d.route for d in found[1:]} == {"ionic"}
    assert any(d.mapping == {"Ca": "Sr", "Ti": "Ti", "O": "O"} for d in found)
    mappings = [tuple(sorted(d.mapping.items())) for d in found]
    assert len(mappings) == len(set(mappings))
    for d in found:
        assert len(set(d.mapping.values())) == len(d.mapping)
    with pytest.raises(ValueError, match="threshold"):
        M.decorations(perovskite, threshold=1.5)


def test_decorate_substitutes_and_rescales():
    feb = M.get_prototype("FeB")
    cob = M.decorate(feb, {"Fe": "Co", "B": "B"})
    assert cob.composition.reduced_formula == "CoB" and len(cob) == 8
    from pymatgen.core import Element

    radius = {e: Element(e).atomic_radius for e in ("Fe", "Co", "B")}  # equal Fe and B counts
    expected = ((radius["Co"] + radius["B"]) / (radius["Fe"] + radius["B"])) ** 3
    assert cob.volume / feb.structure.volume == pytest.approx(expected, rel=1e-9)
    assert expected != pytest.approx(1.0)
    same = M.decorate(feb, {"Fe": "Fe", "B": "B"})
    assert same.volume == pytest.approx(feb.structure.volume)  # identity: measured volume kept
    with pytest.raises(ValueError, match="each of"):
        M.decorate(feb, {"Fe": "Co"})
    with pytest.raises(ValueError, match="unknown element"):
        M.decorate(feb, {"Fe": "Xx", "B": "B"})


def test_plausibility_rejects_short_distances_and_odd_volumes():
    from pymatgen.core import Lattice, Structure

    good = M.plausibility(M.named_structure("Si"), reference=M.named_structure("Si"))
    assert good.ok and good.min_distance_ratio == pytest.approx(2.3517 / (2 * 1.11), rel=1e-3)
    squeezed = Structure.from_spacegroup("Fd-3m", Lattice.cubic(3.0), ["Si"], [[0, 0, 0]])
    short = M.plausibility(squeezed)
    assert not short.ok and "distance" in short.reason and short.min_distance_ratio < 0.6
    swollen = Structure.from_spacegroup("Fd-3m", Lattice.cubic(20.0), ["Si"], [[0, 0, 0]])
    assert "volume" in M.plausibility(swollen).reason
    loose = Structure.from_spacegroup("Fd-3m", Lattice.cubic(8.0), ["Si"], [[0, 0, 0]])
    assert M.plausibility(loose).ok
    assert "packing" in M.plausibility(loose, reference=M.named_structure("Si")).reason


def test_deduplicate_keeps_first_of_equivalent_structures():
    from pymatgen.core import Lattice, Structure

    cuzn = Structure(Lattice.cubic(2.95), ["Cu", "Zn"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    zncu = Structure(Lattice.cubic(3.00), ["Zn", "Cu"], [[0, 0, 0], [0.5, 0.5, 0.5]])
    nacl = Structure.from_spacegroup("Fm-3m", Lattice.cubic(5.64), ["Na", "Cl"],
                                     [[0, 0, 0], [0.5, 0.5, 0.5]])
    cuzn_fcc = Structure(Lattice.cubic(3.7), ["Cu", "Cu", "Zn", "Zn"],  # L1_0-like: different
                         [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0, 0.5], [0, 0.5, 0.5]])
    assert M.deduplicate([cuzn, nacl, zncu, cuzn_fcc]) == [0, 1, 3]
    assert M.deduplicate([]) == []


# --------------------------------------------------------------------------- #
# Sampling and selection
# --------------------------------------------------------------------------- #
def test_sample_systems_follows_weights_and_honours_required():
    pools = {"a": 1000, "b": 1000, "c": 5}
    chosen = M.sample_systems(pools, {"a": 3.0, "b": 1.0, "c": 0.001}, 400, required=["c"], seed=0)
    assert sum(len(v) for v in chosen.values()) == 400
    assert chosen["c"][0] == 0
    ratio = len(chosen["a"]) / len(chosen["b"])
    assert 2.5 < ratio < 3.6
    assert all(len(set(v)) == len(v) for v in chosen.values())
    again = M.sample_systems(pools, {"a": 3.0, "b": 1.0, "c": 0.001}, 400, required=["c"], seed=0)
    assert chosen == again


@pytest.mark.parametrize("kwargs, match", [
    ({"n_systems": 0}, "positive"),
    ({"n_systems": 11}, "cannot select 11"),
    ({"n_systems": 2, "weights": {"a": 1.0, "b": 0.0}}, "positive and finite"),
    ({"n_systems": 2, "required": ["z"]}, "no plausible candidates"),
])
def test_sample_systems_errors(kwargs, match):
    options = {"weights": {"a": 1.0, "b": 1.0}, **kwargs}
    with pytest.raises(ValueError, match=match):
        M.sample_systems({"a": 5, "b": 5}, options.pop("weights"), options.pop("n_systems"),
                         **options)


def test_select_materials_table(tiny_table):
    generated = tiny_table.by_source("aflow-substitution")
    assert len(generated) == TINY.n_systems
    assert FIG6_KEYS <= {m.prototype_key for m in generated}
    assert {m.id for m in tiny_table.by_source("named")} >= {"named-Si", "named-Ge", "named-h-BN"}
    for m in generated:
        assert M.plausibility(m.structure).ok
        assert m.n_sites == len(m.structure) <= 16
        assert m.a == pytest.approx(m.structure.lattice.a) and m.spacegroup >= 1
        assert m.formula == chemistry.reduced_formula(m.structure.composition)
        proto = M.get_prototype(m.prototype_key)
        assert m.spacegroup == proto.spacegroup and m.prototype == proto.aflow
        assert set(m.decoration) == set(proto.elements)
    assert tiny_table["named-Si"].a == pytest.approx(5.431)
    stats = tiny_table.metadata["prototypes"]
    assert all(s["accepted"] <= s["plausible"] <= s["tried"] for s in stats.values())
    frame = tiny_table.to_dataframe()
    assert list(frame.columns) == list(M.COLUMNS) and len(frame) == len(tiny_table)
    with pytest.raises(KeyError):
        tiny_table["nope"]
    with pytest.raises(ValueError, match="unknown source"):
        tiny_table.by_source("icsd")


def test_select_materials_is_deterministic(tiny_table):
    again = M.select_materials(TINY, seed=0)
    assert again.rows() == tiny_table.rows()
    assert all(a.structure == b.structure for a, b in zip(again, tiny_table))
    assert M.select_materials(TINY, seed=1).ids != tiny_table.ids


def test_select_materials_independent_of_hash_seed(tiny_table):
    code = ("import json; from fcunet_lib import materials as M;"
            "from fcunet_lib.config import MaterialsSettings as S;"
            f"print(json.dumps(M.select_materials(S(**{TINY.__dict__!r}), seed=0).rows()))")
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    root = Path(__file__).resolve().parents[1]
    output = subprocess.run([sys.executable, "-c", code], env=env, cwd=root, capture_output=True,
                            text=True, check=True).stdout
    assert json.loads(output.strip().splitlines()[-1]) == json.loads(json.dumps(tiny_table.rows()))


@pytest.mark.parametrize("change, match", [
    ({"n_systems": 0}, "n_systems"),
    ({"substitution_threshold": 2.0}, "substitution_threshold"),
    ({"n_systems": 500}, "cannot select 500"),
])
def test_select_materials_rejects_bad_settings(change, match):
    import dataclasses

    with pytest.raises(ValueError, match=match):
        M.select_materials(dataclasses.replace(TINY, **change), seed=0)


def test_scale_presets_are_valid_and_sized():
    sizes = {name: get_scale(name).materials.n_systems for name in ("smoke", "default", "paper")}
    assert sizes["smoke"] <= 20 and 100 <= sizes["default"] <= 400 and sizes["paper"] >= 1000
    for name in ("smoke", "default", "full", "paper"):
        M._check_settings(get_scale(name).materials)


def test_material_record_checks_source_and_key():
    si = M.named_structure("Si")
    record = M.material_record(None, si, source="named", prototype="A_cF8_227_a.C")
    assert record.id == "Si.A_cF8_227_a.C" and record.spacegroup == 227 and record.n_sites == 8
    with pytest.raises(ValueError, match="unknown source"):
        M.material_record(None, si, source="icsd", prototype="A_cF8_227_a.C")
    with pytest.raises(ValueError, match="key"):
        M.material_record(None, si, source="named", prototype="A_cF8_227_a")
    with pytest.raises(ValueError, match="unique"):
        M.MaterialsTable((record, record))


# --------------------------------------------------------------------------- #
# Saving and loading
# --------------------------------------------------------------------------- #
def test_save_load_round_trip(tiny_table, tmp_path):
    folder = M.save_materials(tiny_table, tmp_path / "materials")
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["manifest.json", "materials.csv", "structures.json"]  # no temporary files
    loaded = M.load_materials(folder)
    assert loaded.rows() == tiny_table.rows()
    assert all(a.structure == b.structure for a, b in zip(loaded, tiny_table))
    assert loaded.metadata == json.loads(json.dumps(tiny_table.metadata))
    header = (folder / "materials.csv").read_text().splitlines()[0]
    assert header.split(",") == list(M.COLUMNS)


def test_load_detects_corruption_and_missing_files(tiny_table, tmp_path):
    folder = M.save_materials(tiny_table, tmp_path / "m")
    csv_path = folder / "materials.csv"
    csv_path.write_text(csv_path.read_text()[:-10])
    with pytest.raises(ValueError, match="materials.csv is corrupted or truncated"):
        M.load_materials(folder)
    (folder / "manifest.json").unlink()
    with pytest.raises(FileNotFoundError, match="manifest.json is missing"):
        M.load_materials(folder)
    with pytest.raises(ValueError, match="empty"):
        M.save_materials(M.MaterialsTable(()), tmp_path / "empty")


def test_ensure_materials_reuses_a_matching_table(tiny_table, tmp_path, monkeypatch):
    M.save_materials(tiny_table, tmp_path)

    def fail(*args, **kwargs):
        raise AssertionError("should have loaded the saved table")

    monkeypatch.setattr(M, "select_materials", fail)
    assert M.ensure_materials(TINY, tmp_path, seed=0).ids == tiny_table.ids
    monkeypatch.setattr(M, "select_materials", lambda settings, seed: tiny_table)
    assert M.ensure_materials(TINY, tmp_path / "new", seed=1).ids == tiny_table.ids
    assert (tmp_path / "new" / "manifest.json").is_file()
    (tmp_path / "structures.json").write_text("{}")
    with pytest.warns(UserWarning, match="corrupted"):
        M.ensure_materials(TINY, tmp_path, seed=0)
    assert M.load_materials(tmp_path).ids == tiny_table.ids  # replaced by a fresh, valid table


# --------------------------------------------------------------------------- #
# Fig. 6 numbers and plot
# --------------------------------------------------------------------------- #
def test_prototype_summary_numbers(tiny_table):
    summary = M.prototype_summary(tiny_table)
    json.dumps(summary)
    assert summary["n_systems"] == TINY.n_systems
    assert sum(r["selected"] for r in summary["prototypes"]) == TINY.n_systems
    shares = [r["weight_share"] for r in summary["prototypes"]]
    assert shares == sorted(shares, reverse=True) and sum(shares) == pytest.approx(1.0)
    assert np.all(np.diff(summary["coverage"]) >= 0)
    assert summary["coverage"][-1] == pytest.approx(1.0)
    assert "stand-in" in summary["source_note"]
    fig6 = summary["fig6"]
    assert fig6["Zn3P2"]["present"] is False and fig6["Zn3P2"]["n_systems"] == 0
    perovskites = [m for m in tiny_table if m.prototype_key == "AB3C_cP5_221_a_c_b.CaTiO3"]
    assert fig6["CaTiO3"]["n_systems"] == len(perovskites) >= 1
    assert 20 in fig6["CaTiO3"]["z"]["Ca"]  # the prototype's own compound is always candidate 0
    assert all(len(z) == len(perovskites) for z in fig6["CaTiO3"]["z"].values())
    candidates = fig6["FeB"]["candidate_z"]
    assert len(candidates["Fe"]) == len(candidates["B"]) == fig6["FeB"]["n_candidates"]
    assert fig6["FeB"]["n_candidates"] >= fig6["FeB"]["n_systems"]
    assert 26 in candidates["Fe"] and 27 in candidates["Fe"]  # FeB itself and CoB
    with pytest.raises(ValueError, match="no selected systems"):
        M.prototype_summary(M.MaterialsTable(tuple(M.named_materials())))


def test_plot_fig6(tiny_table):
    from fcunet_lib.plots.materials import plot_fig6

    figure = plot_fig6(M.prototype_summary(tiny_table))
    assert len(figure.axes) == 6  # a, its twin, b–e
    title = figure._suptitle.get_text()
    assert "AFLOW prototype library" in title and "substitution" in title
    texts = [t.get_text() for ax in figure.axes for t in ax.texts]
    assert any("Zn3P2" in t and "no data" in t for t in texts)
    assert figure.axes[2].patches  # CaTiO3 histogram has bars
    assert "selected" in figure.axes[2].get_title(loc="left")
    with pytest.raises(ValueError, match="prototype_summary"):
        plot_fig6({"prototypes": []})


# --------------------------------------------------------------------------- #
# Online path on the recorded response
# --------------------------------------------------------------------------- #
def test_parse_mp_summaries(mp_entries):
    assert [e.material_id for e in mp_entries] == ["mp-149", "mp-22862", "mp-5229", "mp-9000001",
                                                  "mp-9000002", "mp-9000003"]
    assert mp_entries[2].formula == "SrTiO3" and mp_entries[2].spacegroup == 221
    assert mp_entries[0].structure.lattice.a == pytest.approx(5.431 / math.sqrt(2), rel=1e-5)
    raw = json.loads(FIXTURE.read_text())
    from_list = O.parse_mp_summaries(raw["data"])
    assert [e.material_id for e in from_list] == [e.material_id for e in mp_entries]
    with pytest.raises(ValueError, match="material_id"):
        O.parse_mp_summaries([{"structure": raw["data"][0]["structure"]}])
    with pytest.raises(ValueError, match="readable 'structure'"):
        O.parse_mp_summaries([{"material_id": "mp-1", "structure": {"lattice": 3}}])
    with pytest.raises(ValueError, match="list of summary documents"):
        O.parse_mp_summaries({"meta": {}})


def test_match_prototypes_on_recorded_response(mp_entries):
    assert O.match_prototypes(mp_entries) == [
        "A_cF8_227_a.C", "AB_cF8_225_a_b.NaCl", "AB3C_cP5_221_a_c_b.CaTiO3",
        "AB_oP8_62_c_c.FeB", "AB3_oP16_62_c_cd.Fe3C", None,
    ]


def test_select_materials_online_from_recorded_response(mp_entries):
    settings = MaterialsSettings(n_systems=4, n_prototypes=1, candidates_per_prototype=1,
                                 substitution_threshold=1e-3, max_sites=20)
    table = O.select_materials_online(settings, response=FIXTURE, seed=0)
    mp = table.by_source("materials-project")
    assert len(mp) == 4 and {"mp-5229", "mp-9000001", "mp-9000002"} <= {m.id for m in mp}
    assert table["mp-5229"].decoration == {"Ca": "Sr", "Ti": "Ti", "O": "O"}
    assert table["mp-9000001"].decoration == {"Fe": "Co", "B": "B"}
    assert table.metadata["n_unmatched"] == 1 and table.metadata["source_note"] == O.MP_NOTE
    summary = M.prototype_summary(table)
    assert summary["fig6"]["CaTiO3"]["z"] == {"Ca": [38], "Ti": [22], "O": [8]}
    assert summary["fig6"]["FeB"]["candidate_z"] == {"Fe": [27], "B": [5]}
    with pytest.raises(ValueError, match="cannot select 6"):
        O.table_from_mp(mp_entries, O.match_prototypes(mp_entries),
                        MaterialsSettings(6, 1, 1, 1e-3, 20))
    with pytest.raises(ValueError, match="prototype keys"):
        O.table_from_mp(mp_entries, [None], settings)


def test_fetch_mp_summaries_needs_key_and_uses_client(monkeypatch):
    monkeypatch.delenv("MP_API_KEY", raising=False)
    with pytest.raises(ValueError, match="MP_API_KEY"):
        O.fetch_mp_summaries()
    calls = {}

    class FakeSummary:
        def search(self, **options):
            calls.update(options)
            return [{"material_id": "mp-149", "structure": M.named_structure("Si"),
                     "symmetry": {"number": 227}, "formula_pretty": "Si"}]

    class FakeRester:
        def __init__(self, key, **options):
            calls["key"] = key
            self.materials = type("Materials", (), {"summary": FakeSummary()})()

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(O, "_mprester_class", lambda: FakeRester)
    monkeypatch.setenv("MP_API_KEY", "secret")
    documents = O.fetch_mp_summaries(max_sites=12, limit=5)
    assert calls["key"] == "secret" and calls["num_sites"] == (1, 12)
    assert set(O.MP_FIELDS) == set(calls["fields"]) and calls["chunk_size"] == 5
    json.dumps(documents)  # structures come back as plain dicts
    assert O.parse_mp_summaries(documents)[0].structure == M.named_structure("Si")


def test_fetch_without_mp_api_gives_clear_error(monkeypatch):
    try:
        import mp_api  # noqa: F401
    except ImportError:
        monkeypatch.setenv("MP_API_KEY", "secret")
        with pytest.raises(ImportError, match="mp-api"):
            O.fetch_mp_summaries()
    else:
        pytest.skip("mp-api is installed")
