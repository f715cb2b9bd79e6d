"""Threat-actor profiles (issue 17, first part): an ATT&CK group, campaign or software by id, name or alias, a
Navigator layer, a list of technique ids, or a union, as a weight per technique with where each came from; and
`breachpath actor show`, which says which of them the built-in language models."""

from __future__ import annotations

import json

import pytest

from breachpath.actor import Profile, modelled_by, profile_from_kb, profile_from_layer, read_profile
from breachpath.errors import InputError, NotFoundError
from conftest import run_cli
from test_authoring import one_line_error


def test_a_group_is_found_by_id_name_or_alias_and_its_techniques_say_where_they_come_from(kb18):
    by_id = profile_from_kb(kb18, "G0016")
    assert profile_from_kb(kb18, "Cozy Bear").weights == by_id.weights == profile_from_kb(kb18, "apt29").weights
    assert by_id.name == "G0016 APT29"
    sources = {s.split(" ")[0] for found in by_id.sources.values() for s in found}
    assert sources == {"direct", "campaign", "software"}
    direct = profile_from_kb(kb18, "G0016", via=("direct",))
    assert set(direct.weights) < set(by_id.weights)
    assert all(found == ["direct"] for found in direct.sources.values())
    # What the knowledge base's group page says the group uses directly, the profile holds.
    page = kb18.group_techniques("G0016")
    assert {t["id"] for t in page["techniques"] if t["direct"]} == set(direct.weights)


def test_campaigns_and_software_are_actors_too_and_wrong_kinds_say_so(kb18):
    assert profile_from_kb(kb18, "C0024").name.startswith("C0024")
    cobalt = profile_from_kb(kb18, "Cobalt Strike")
    assert cobalt.name == "S0154 Cobalt Strike" and "T1003.001" in cobalt.weights
    with pytest.raises(InputError, match="is a technique"):
        kb18.find_actor("T1003")
    with pytest.raises(NotFoundError, match="no ATT&CK group"):
        kb18.find_actor("Nobody At All")
    with pytest.raises(InputError, match="--via"):
        kb18.actor_techniques("G0016", ("direct", "rumours"))


def test_revoked_and_deprecated_groups_are_listed_with_the_reason_they_are_left_out(kb18):
    groups = kb18.actors("group")
    skipped = [g for g in groups if g["skipped"]]
    assert skipped and all(g["skipped"] in ("revoked", "deprecated") for g in skipped)
    deprecated = next(g for g in skipped if g["skipped"] == "deprecated")
    with pytest.raises(InputError, match="deprecated"):
        kb18.find_actor(deprecated["id"])
    assert len(groups) - len(skipped) > 150


def test_a_navigator_layer_weighs_techniques_by_score(tmp_path):
    layer = tmp_path / "layer.json"
    layer.write_text(json.dumps({"techniques": [
        {"techniqueID": "T1566.001", "score": 50}, {"techniqueID": "T1059", "score": 100},
        {"techniqueID": "T1003", "score": 0}, {"techniqueID": "T1021", "enabled": False, "score": 80},
        {"techniqueID": "t1110"},
    ]}))  # fmt: skip
    profile = profile_from_layer(layer)
    assert profile.weights == {"T1566.001": 0.5, "T1059": 1.0, "T1110": 0.01}


def test_a_union_keeps_each_techniques_largest_weight_and_all_its_sources(tmp_path, kb18):
    layer = tmp_path / "extra.json"
    layer.write_text(
        json.dumps({"techniques": [{"techniqueID": "T1486", "score": 4}, {"techniqueID": "T1059", "score": 8}]})
    )
    union = read_profile(f"T1059,T1190+{layer}", kb18)
    assert union.weights == {"T1059": 1.0, "T1190": 1.0, "T1486": 0.5}
    assert union.sources["T1059"] == ["listed", "layer extra.json"]
    both = read_profile("G0016+G0010", kb18)
    assert set(both.weights) == set(read_profile("G0016", kb18).weights) | set(read_profile("Turla", kb18).weights)


def test_a_sub_technique_implies_its_parents_door_and_a_parent_its_sub_techniques():
    profile = Profile("p", {"T1566.001": 1.0, "T1003": 1.0, "T1059": 1.0, "T9999": 1.0})
    found = modelled_by(profile, {"T1566", "T1003.001", "T1003.006", "T1059"})
    assert found == {
        "T1003": {"how": "sub-technique doors", "doors": ["T1003.001", "T1003.006"]},
        "T1059": {"how": "door", "doors": ["T1059"]},
        "T1566.001": {"how": "parent door", "doors": ["T1566"]},
        "T9999": {"how": "not modelled", "doors": []},
    }


def test_actor_show_prints_the_profile_and_what_the_language_models(kb18, tmp_path):
    done = run_cli("actor", "show", "Cozy Bear", "--db", str(kb18.path), "--format", "json")
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    assert shown["name"] == "G0016 APT29" and shown["counts"]["techniques"] == len(shown["techniques"])
    assert 0 < shown["counts"]["not modelled"] < shown["counts"]["door"]
    table = run_cli("actor", "show", "G0016", "--via", "direct", "--db", str(kb18.path))
    assert table.returncode == 0 and "G0016 APT29" in table.stdout
    ids = run_cli("actor", "show", "T1566,T1003.001", "--db", str(tmp_path / "none.sqlite"), "--format", "json")
    assert ids.returncode == 0 and json.loads(ids.stdout)["counts"]["door"] == 2  # no knowledge base needed


@pytest.mark.parametrize(
    "actor, needles",
    [("T1566,nonsense", ["T1566,nonsense", "ATT&CK"]), ("G0016+", ["--actor"]), ("Nobody At All", ["Nobody At All"])],
)
def test_bad_actors_are_one_line(kb18, actor, needles):
    one_line_error(run_cli("actor", "show", actor, "--db", str(kb18.path)), *needles)


def test_an_actor_without_a_knowledge_base_says_how_to_get_one(tmp_path):
    one_line_error(run_cli("actor", "show", "G0016", "--db", str(tmp_path / "none.sqlite")), "kb load")


# -- running a scenario as an actor (`simulate --actor`) ------------------------------------------------------


def _small_office():
    from breachpath.demo import example_path
    from breachpath.lang import compile_file
    from breachpath.scenario import read_scenario

    scenario = read_scenario(example_path("small-office"))
    spec = compile_file(scenario.lang)
    return spec, scenario


def _run(profile=None, mode="soft", outside=10.0, samples=300, seed=5):
    from breachpath.actor import apply_actor
    from breachpath.graph import scenario_graph
    from breachpath.sim import simulate

    spec, scenario = _small_office()
    graph, entries, targets, _ = scenario_graph(spec, scenario)
    if profile is not None:
        apply_actor(graph, profile, mode, outside)
    return simulate(graph, entries, targets, samples=samples, seed=seed, path_targets=len(targets))


def _every_technique() -> Profile:
    from breachpath.lang.coverage import language_ids

    spec, _ = _small_office()
    return Profile("all", {i: 1.0 for i in language_ids(spec)["attack"] if i.startswith("T")})


def test_an_actor_with_every_technique_or_soft_by_one_is_the_unconditioned_run():
    import numpy as np

    plain = _run()
    for conditioned in (_run(_every_technique(), "strict"), _run(Profile("p", {"T1566": 1.0}), "soft", outside=1)):
        assert np.array_equal(plain.times, conditioned.times)
        assert np.array_equal(plain.path_nodes, conditioned.path_nodes)


def test_an_actor_without_the_doors_in_closes_everything_and_soft_only_slows():
    import numpy as np

    plain = _run()
    closed = _run(Profile("p", {"T1059": 1.0}), "strict")
    slowed = _run(Profile("p", {"T1059": 1.0}), "soft", outside=10)
    assert not np.isfinite(closed.times).any()
    assert (np.isfinite(slowed.times) == np.isfinite(plain.times)).all()  # the same samples succeed...
    finite = np.isfinite(plain.times)
    assert (slowed.times[finite] >= plain.times[finite]).all() and (slowed.times[finite] > plain.times[finite]).any()


def test_adding_techniques_to_a_strict_profile_never_lowers_the_probability():
    """Common random numbers: the same seed draws the same numbers whatever the profile (closed doors draw none),
    so a larger profile can only open doors, sample by sample."""
    import numpy as np
    from hypothesis import given, settings
    from hypothesis import strategies as st

    pool = sorted(_every_technique().weights)
    on_paths = ["T1566.001", "T1598.003", "T1046", "T1068", "T1003", "T1021", "T1486", "T1005", "T1071", "T1041",
                "T1078.004", "T1558.003", "T1110"]  # fmt: skip

    @settings(max_examples=8, deadline=None)
    @given(st.sets(st.sampled_from(on_paths), min_size=1), st.sets(st.sampled_from(pool), max_size=40))
    def check(small: set, extra: set) -> None:
        a = _run(Profile("a", dict.fromkeys(small, 1.0)), "strict", samples=200)
        b = _run(Profile("b", dict.fromkeys(small | extra, 1.0)), "strict", samples=200)
        assert (np.isfinite(a.times) <= np.isfinite(b.times)).all()

    check()


def test_simulate_with_an_actor_says_so(tmp_path):
    from breachpath.demo import example_path

    done = run_cli("simulate", str(example_path("small-office")), "--actor", "T1566,T1059", "--actor-mode", "strict",
                   "--samples", "200", "--format", "json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["actor"]["mode"] == "strict" and result["actor"]["steps_changed"] > 0
    assert all(t["p"] == 0 for t in result["targets"].values())
    assert "actor techniques T1566,T1059 (strict)" in done.stderr


@pytest.mark.parametrize(
    "args, needle", [(["--actor-mode", "lenient"], "--actor-mode"), (["--outside", "0.5"], "--outside")]
)
def test_bad_actor_options_are_one_line(args, needle):
    from breachpath.demo import example_path

    one_line_error(run_cli("simulate", str(example_path("small-office")), "--actor", "T1566", *args), needle)


# -- presets, a strict actor that cannot get in, and what the results say ------------------------------------


def test_the_any_preset_is_the_unconditioned_run_and_the_ransomware_preset_cites_ctid():
    import numpy as np

    from breachpath.actor import CTID_RANSOMWARE, read_profile

    assert np.array_equal(_run(read_profile("any"), "strict").times, _run().times)
    ransomware = read_profile("ransomware-top10")
    assert len(ransomware.weights) == 10 and {"T1486", "T1490", "T1190", "T1021.001"} <= set(ransomware.weights)
    assert ransomware.citations == [CTID_RANSOMWARE] and "top-attack-techniques" in CTID_RANSOMWARE


def test_a_strict_actor_without_an_initial_access_technique_gets_p_zero_and_is_told_which_tactic(kb18):
    from breachpath.demo import example_path

    done = run_cli("simulate", str(example_path("small-office")), "--actor", "T1059,T1486", "--actor-mode", "strict",
                   "--samples", "100", "--db", str(kb18.path), "--format", "json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert all(t["p"] == 0 for t in result["targets"].values())
    assert set(result["actor"]["closed"]) == set(result["targets"])
    # The phishing doors (initial access) and phishing for information (reconnaissance) are the only ways in.
    assert "no initial-access or reconnaissance technique" in result["actor"]["closed"]["file-shares:encrypt"]
    assert "T1566.001" in done.stderr and "P = 0" in done.stderr


def test_paths_and_saved_results_and_reports_say_which_techniques_are_the_actors(tmp_path, kb18):
    from breachpath.demo import example_path

    saved = tmp_path / "r.npz"
    done = run_cli("simulate", str(example_path("small-office")), "--actor", "T1566.001,T1068,T1003,T1021,T1046",
                   "--samples", "200", "--paths", "--save", str(saved), "--db", str(kb18.path),
                   "--format", "json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    steps = [s for p in json.loads(done.stdout)["paths"]["file-shares:encrypt"]["top"] for s in p["steps"]]
    marked = {s["attack_ids"][0]: s["actor_technique"] for s in steps if s["attack_ids"]}
    assert marked["T1566.001"] is True and marked["T1046"] is True
    assert False in marked.values()  # soft: doors outside the profile are slower, not closed, and still taken
    html = tmp_path / "r.html"
    report = run_cli("report", str(saved), "--html", str(html), "--db", str(kb18.path))
    assert report.returncode == 0, report.stderr
    text = html.read_text()
    assert "techniques T1566.001,T1068,T1003,T1021,T1046: soft" in text and 'class="outside-actor"' in text


def test_whatif_as_an_actor_says_so():
    from breachpath.demo import example_path

    done = run_cli("whatif", str(example_path("small-office")), "--actor", "T1566,T1068,T1003,T1021,T1486,T1046",
                   "--actor-mode", "strict", "--samples", "200", "--limit", "2", "--format", "json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["actor"]["mode"] == "strict" and len(result["defenses"]) == 2


# -- ranking actors (`breachpath actors`) -------------------------------------------------------------------


def test_every_live_enterprise_group_is_selected_and_the_revoked_and_deprecated_are_named(kb18):
    from breachpath.actor_ranking import select_profiles

    profiles, skipped = select_profiles(kb18)
    groups = kb18.actors("group", domain="enterprise-attack")
    assert len(profiles) + len(skipped) == len(groups) and len(profiles) > 150
    assert skipped and {s["skipped"] for s in skipped} <= {"revoked", "deprecated"}
    assert not {p.name.split(" ")[0] for p in profiles} & {s["id"] for s in skipped}
    chosen, _ = select_profiles(kb18, "Cozy Bear,G0016,APT28")  # an alias and its id are one actor
    assert [p.name for p in chosen] == ["G0016 APT29", "G0007 APT28"]


def test_actors_rank_on_common_random_numbers_and_each_row_is_that_actors_own_run(kb18, tmp_path):
    from breachpath.demo import example_path

    scenario = str(example_path("small-office"))
    layer, html = tmp_path / "top.json", tmp_path / "actors.html"
    done = run_cli("actors", scenario, "--groups", "APT29,FIN7,Turla", "--actor-mode", "strict", "-n", "300",
                   "--seed", "11", "--db", str(kb18.path), "--navigator", str(layer), "--report", str(html),
                   "--format", "json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    names = [r["name"] for r in result["actors"]]
    assert names[:2] == ["any (unconditioned)", "ransomware-top10 (CTID)"] and "G0016 APT29" in names
    for target in result["targets"]:
        figures = [result["actors"][i]["targets"][target] for i in result["order"][target]]
        keys = [(-f["p_within"], f["median"] if f["median"] is not None else float("inf")) for f in figures]
        assert keys == sorted(keys)
    # A row is the run `simulate --actor` gives with the same seed and samples: the same numbers.
    alone = run_cli("simulate", scenario, "--actor", "G0016", "--actor-mode", "strict", "-n", "300", "--seed", "11",
                    "--db", str(kb18.path), "--horizon", "30", "--format", "json")  # fmt: skip
    row = result["actors"][names.index("G0016 APT29")]["targets"]
    for target, t in json.loads(alone.stdout)["targets"].items():
        assert row[target]["p"] == t["p"] and row[target]["p_within"] == t["within"]["30"]
        assert row[target]["median"] == t["ttc"]["p50"]
    anyone = result["actors"][0]["targets"]
    plain = json.loads(run_cli("simulate", scenario, "-n", "300", "--seed", "11", "--format", "json").stdout)
    assert all(anyone[t]["p"] == plain["targets"][t]["p"] for t in plain["targets"])
    # Strict: no actor beats the unconditioned attacker, sample by sample.
    for target in result["targets"]:
        assert all(r["targets"][target]["p"] <= anyone[target]["p"] for r in result["actors"])
    top = result["actors"][result["top"]]["name"]
    assert json.loads(layer.read_text())["name"].endswith(f"as {top} (strict)")
    page = html.read_text()
    assert 'id="actors"' in page and "G0046 FIN7" in page and f"<b>{top}</b>" in page


@pytest.mark.parametrize(
    "args, needle",
    [(["--groups", ","], "--groups"), (["--groups", "Nobody At All"], "Nobody At All"), (["--top", "0"], "--top"),
     (["--horizon", "-1"], "--horizon"), (["--actor-mode", "lenient"], "--actor-mode")],
)  # fmt: skip
def test_bad_actors_options_are_one_line(kb18, args, needle):
    from breachpath.demo import example_path

    one_line_error(run_cli("actors", str(example_path("small-office")), "--db", str(kb18.path), *args), needle)


def test_report_as_an_actor_runs_the_saved_scenario_again_on_the_same_samples(tmp_path, kb18):
    from breachpath.demo import example_path

    scenario, saved = str(example_path("small-office")), tmp_path / "plain.npz"
    assert run_cli("simulate", scenario, "-n", "300", "--seed", "4", "--save", str(saved)).returncode == 0
    as_report, as_simulate = tmp_path / "report-layer.json", tmp_path / "simulate-layer.json"
    args = ["--actor", "G0016", "--actor-mode", "strict", "--db", str(kb18.path)]
    done = run_cli("report", str(saved), "--navigator", str(as_report), *args)
    assert done.returncode == 0, done.stderr
    direct = run_cli("simulate", scenario, "-n", "300", "--seed", "4", "--navigator", str(as_simulate), *args)
    assert direct.returncode == 0, direct.stderr
    layer = json.loads(as_report.read_text())
    assert layer == json.loads(as_simulate.read_text()) and "as G0016 APT29 (strict)" in layer["name"]
