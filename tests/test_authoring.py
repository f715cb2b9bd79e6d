"""Authoring that tells you what to fix (issue 13): unknown names get the nearest valid one, every command checks
the model as `model validate` does and blames the asset whose entry is wrong, surprising but runnable inputs get
warnings, bad options and values get one line before any work, and tables say what they show.

Most tests run the real `breachpath` command on the small-office example (built-in attacklang), changed the way a
user would edit it.
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from breachpath.analysis import WHATIF_RANKING, whatif
from breachpath.demo import example_path
from breachpath.dist import completion_problem, parse
from breachpath.errors import InputError
from breachpath.graph import apply_overrides, build_graph, find_defense, possibly_reached, unreachable_warnings
from breachpath.lang import compile_file
from breachpath.langs import ATTACKLANG
from breachpath.model import check_model, complete_links, model_from_dict, nearest, validate
from breachpath.scenario import read_scenario
from breachpath.sim import simulate, simulate_until
from conftest import run_cli

OFFICE = yaml.safe_load(example_path("small-office").read_text())
WIDE = {"COLUMNS": "250"}  # Rich wraps table headers to the terminal width; a wide one keeps them whole


@pytest.fixture(scope="module")
def attacklang():
    return compile_file(ATTACKLANG)


def write_scenario(directory: Path, name: str = "s.yml", **changes) -> Path:
    """small-office.yml with top-level keys replaced (None removes one), written to ``directory``."""
    data = copy.deepcopy(OFFICE)
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    path = directory / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def office_graph(**changes):
    data = copy.deepcopy(OFFICE)
    data.update(changes)
    scenario_model = model_from_dict(data["model"], "small-office")
    spec = compile_file(ATTACKLANG)
    graph = build_graph(spec, scenario_model)
    apply_overrides(graph, data.get("defenses") or {}, data.get("ttc") or {})
    return graph, data


def one_line_error(result, *needles: str) -> str:
    """Exit 2, a single stderr line containing every needle, no traceback."""
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    for needle in needles:
        assert needle in result.stderr, (needle, result.stderr)
    return result.stderr


# -- 1. unknown names: the nearest valid one, or the valid ones ----------------------------------------------


def test_nearest_knows_abbreviations_and_shared_words():
    steps = ["remoteServices", "bruteForce", "multiFactorAuthentication", "mfaBypassed", "osCredentialDumping"]
    assert nearest("mfa", steps)[0] == "multiFactorAuthentication"  # initials: difflib alone finds nothing
    assert nearest("credentialAccess", steps)[0] == "osCredentialDumping"
    assert nearest("db1", ["db01", "web01", "vpn01"])[0] == "db01"
    assert nearest("zzz", steps) == []


def test_unknown_step_on_an_asset_suggests_the_step_it_abbreviates():
    graph, _ = office_graph()
    with pytest.raises(InputError) as caught:
        graph.find("ws-alice:cd")  # the initials of credentialDumping: difflib alone finds nothing
    assert "ws-alice (Windows) has no attack step 'cd'; did you mean credentialDumping?" in str(caught.value)
    with pytest.raises(InputError, match=r"no asset 'fs1' in the model; did you mean fs01\?"):
        graph.find("fs1:userAccess")


def test_an_unknown_defense_is_told_the_defenses_only():
    graph, _ = office_graph()
    with pytest.raises(InputError) as caught:
        find_defense(graph, "ws-alice:mfa")
    message = str(caught.value)
    assert (
        "ws-alice (Windows) has no defense 'mfa'; did you mean d3MFAMultiFactorAuthentication or m1032MultiFactorAuthentication?"
        in message
    )
    # Attack steps that graph.find suggests for 'mfa': enabling them would change nothing.
    assert "defeatD3MFAMultiFactorAuthentication" not in message and "Bypassed" not in message


def test_model_validate_suggests_types_fields_and_defenses(tmp_path):
    model = tmp_path / "m.yml"
    model.write_text(
        "assets:\n"
        "  0: {name: vpn01, type: Linux, defenses: {mfa: 1.0}}\n"
        "  1: {name: db01, type: Windos}\n"
        "  2: {name: ws01, type: Windows, defenses: {bruteForce: 1.0}, associated_assets: {acounts: [vpn01]}}\n"
    )
    result = run_cli("model", "validate", str(model), "--lang", "attacklang")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    out = result.stdout
    assert (
        "asset 0 (vpn01): Linux has no defense mfa; did you mean d3MFAMultiFactorAuthentication or m1032MultiFactorAuthentication?"
        in out
    )
    assert "asset 1 (db01): unknown asset type Windos; did you mean Windows?" in out
    assert "asset 2 (ws01): Windows has no field acounts; did you mean accounts?" in out
    assert "asset 2 (ws01): Windows.bruteForce is an attack step, not a defense; defenses of a Windows:" in out


def test_scenario_names_are_checked_with_the_file_and_key_named(tmp_path):
    scenario = write_scenario(tmp_path, targets=["fs1:userAccess"])
    one_line_error(run_cli("simulate", str(scenario)), f"{scenario}: targets: fs1:userAccess: no asset 'fs1'", "fs01")
    scenario = write_scenario(tmp_path, entry_points=["internet:adversaryPresense"])
    one_line_error(run_cli("simulate", str(scenario)), f"{scenario}: entry_points:", "did you mean adversaryPresence?")
    scenario = write_scenario(tmp_path, defenses={"o365-alice:mfa": 1.0})
    one_line_error(
        run_cli("simulate", str(scenario)), f"{scenario}: defenses: o365-alice:mfa", "d3MFAMultiFactorAuthentication"
    )
    scenario = write_scenario(tmp_path, ttc={"Windows.osCredentialDumping": "Exponential(1)"})
    one_line_error(
        run_cli("whatif", str(scenario)),
        f"{scenario}: ttc.Windows.osCredentialDumping: matches no attack step",
        "attacklang 1.0 renamed it Windows.credentialDumping",
    )


def test_options_naming_steps_say_which_option(tmp_path):
    scenario = write_scenario(tmp_path)
    one_line_error(run_cli("simulate", str(scenario), "--target", "ad-database:rd"), "--target: ", "did you mean read?")
    one_line_error(run_cli("simulate", str(scenario), "--entry", "internet:presence"), "--entry: ", "adversaryPresence")
    one_line_error(
        run_cli("whatif", str(scenario), "--defense", "ws-alice:mfa"), "--defense ", "d3MFAMultiFactorAuthentication"
    )
    saved = tmp_path / "g.npz"
    assert run_cli("graph", "build", str(scenario), "--out", str(saved)).returncode == 0
    one_line_error(run_cli("graph", "show", str(saved), "dc1:userAccess"), "no asset 'dc1'", "did you mean dc01")


# -- 2 and 3. one validation everywhere, blaming the right asset --------------------------------------------


def test_a_link_to_the_wrong_type_is_blamed_on_the_asset_that_made_it(attacklang):
    # db01 lists a Person as an account. Before, the reverse side of the link ('hosts') was added to ana and the
    # problem reported was "asset 1 (ana): Person has no field hosts".
    model = model_from_dict(
        {"assets": {0: {"name": "db01", "type": "Windows", "associated_assets": {"accounts": ["ana"]}},
                    1: {"name": "ana", "type": "Person"}}},
        "m.yml",
    )  # fmt: skip
    complete_links(model, attacklang)
    problems = validate(model, attacklang)
    assert problems == [
        "asset 0 (db01): accounts links to asset 1 (ana), a Person, where the association HostAccess wants an Identity"
    ]
    assert "hosts" not in model.assets[1].links


def test_model_validate_accepts_a_scenario_and_checks_its_names(tmp_path):
    ok = write_scenario(tmp_path)
    result = run_cli("model", "validate", str(ok), "--format", "json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["problems"] == []
    bad = write_scenario(tmp_path, "bad.yml", targets=["fs01:encryptt"])
    result = run_cli("model", "validate", str(bad))
    assert result.returncode == 2 and "targets: fs01:encryptt" in result.stdout and "Traceback" not in result.stderr


@pytest.mark.parametrize("command", ["simulate", "whatif", "graph build", "model validate"])
def test_every_command_validates_the_model_like_model_validate(tmp_path, command):
    data = copy.deepcopy(OFFICE)
    # An application must run on exactly one host (Application.host [1]); this one runs on none.
    data["model"]["assets"][20] = {"name": "crm", "type": "Application"}
    scenario = tmp_path / "s.yml"
    scenario.write_text(yaml.safe_dump(data))
    result = run_cli(*command.split(), str(scenario))
    problem = "asset 20 (crm): host has 0 link(s), but Execution allows 1..1"
    if command == "model validate":
        assert result.returncode == 2 and problem in result.stdout
    else:
        one_line_error(result, str(scenario), problem)


def test_check_model_counts_what_it_does_not_show(attacklang):
    assets = {i: {"name": f"app{i}", "type": "Application"} for i in range(5)}
    with pytest.raises(InputError, match=r"^m\.yml: asset 0 .*\(and 2 more; `breachpath model validate m\.yml`"):
        check_model(model_from_dict({"assets": assets}, "m.yml"), attacklang)


# -- 4. warnings, not silence --------------------------------------------------------------------------------


def test_an_unreachable_target_is_a_warning_that_says_why(tmp_path):
    scenario = write_scenario(tmp_path, targets=["ws-alice:webServiceExfiltration", "mailboxes:read"], samples=200)
    result = run_cli("simulate", str(scenario), "--format", "json")
    assert result.returncode == 0, result.stderr
    warnings = json.loads(result.stdout)["warnings"]
    assert warnings == [
        "target ws-alice:webServiceExfiltration cannot be reached from the entry points: "
        "ws-alice:webServiceExfiltration is an AND step and its parent ws-alice:webServiceChannel is unreachable; "
        "ws-alice:webServiceChannel has no parent step and is not an entry point"
    ]
    assert result.stderr == f"warning: {warnings[0]}\n"


@pytest.mark.parametrize("name", ["small-office", "dmz-company", "web-service-c2"])
def test_what_cannot_be_reached_is_never_reached_in_simulation(name):
    scenario = read_scenario(example_path(name))
    graph = build_graph(compile_file(scenario.lang), scenario.model)
    apply_overrides(graph, scenario.defenses, scenario.ttc)
    entries = [graph.find(e) for e in scenario.entry_points]
    reached = possibly_reached(graph, entries)
    sim = simulate(graph, entries, np.arange(graph.n_nodes), samples=300, seed=5)
    ever = np.isfinite(sim.times).any(axis=0)
    assert not np.any(ever & ~reached), "a step the analysis calls unreachable was reached"
    assert unreachable_warnings(graph, entries, [graph.find(t) for t in scenario.targets]) == []


def test_a_whatif_defense_that_is_already_on_is_a_warning(tmp_path):
    mfa = "o365-alice:m1032MultiFactorAuthentication"
    scenario = write_scenario(tmp_path, defenses={mfa: 1.0}, samples=200)
    result = run_cli("whatif", str(scenario), "--defense", mfa, "--format", "json")
    assert result.returncode == 0, result.stderr
    expected = f"{mfa} is already on (p = 1 in the scenario): enabling it changes nothing"
    assert json.loads(result.stdout)["warnings"] == [expected]
    assert f"warning: {expected}" in result.stderr


def test_all_steps_without_targets_reports_every_step(tmp_path):
    scenario = write_scenario(tmp_path, targets=None, samples=100)
    result = run_cli("simulate", str(scenario), "--all-steps", "--format", "json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    graph, _ = office_graph()
    assert summary["targets"] == {} and len(summary["steps"]) == graph.n_nodes


# -- 5. options and values -----------------------------------------------------------------------------------


BAD_OPTIONS = [
    (["--seed", "-1"], "--seed"),
    (["--seed", str(2**64)], "--seed"),
    (["--samples", str(10**12)], "--samples"),
    (["--samples", "0"], "--samples"),
    (["--workers", "0"], "--workers"),
    (["--workers", "-3"], "--workers"),
]


@pytest.mark.parametrize("command", ["simulate", "whatif", "demo"])
@pytest.mark.parametrize(("args", "option"), BAD_OPTIONS, ids=lambda v: " ".join(v) if isinstance(v, list) else v)
def test_bad_option_values_are_one_line_before_any_work(tmp_path, command, args, option):
    # The scenario does not exist: the option is checked first, before any file is read or graph built.
    source = [] if command == "demo" else [str(tmp_path / "missing.yml")]
    one_line_error(run_cli(command, *source, *args), option)


@pytest.mark.parametrize(
    "args",
    [["--horizon", "nan"], ["--horizon", "1,inf"], ["--horizon", "-1"], ["--horizon", "0"],
     ["--precision", "nan"], ["--precision", "0"], ["--precision", "0.1", "--max-samples", "0"]],
    ids=" ".join,
)  # fmt: skip
def test_bad_horizons_and_precision_for_simulate(tmp_path, args):
    one_line_error(run_cli("simulate", str(tmp_path / "missing.yml"), *args), args[-2])


def test_results_show_checks_horizons(tmp_path):
    scenario = write_scenario(tmp_path, samples=100)
    saved = tmp_path / "r.npz"
    assert run_cli("simulate", str(scenario), "--save", str(saved)).returncode == 0
    one_line_error(run_cli("results", "show", str(saved), "--horizon", "nan,7"), "--horizon")


@pytest.mark.parametrize(
    ("options", "message"),
    [({"seed": -1}, "seed must be"), ({"samples": 0}, "samples must be"), ({"workers": 0}, "workers must be"),
     ({"bootstrap": -1}, "bootstrap must be"), ({"bootstrap": 10**9}, "bootstrap must be"),
     ({"bootstrap": 2.5}, "bootstrap must be")],
)  # fmt: skip
def test_whatif_checks_its_options_as_a_library_function(options, message):
    graph, data = office_graph()
    entries = [graph.find(e) for e in data["entry_points"]]
    targets = [graph.find(t) for t in data["targets"]]
    with pytest.raises(InputError, match=message):
        whatif(graph, entries, targets, **{"samples": 100, **options})


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"seed": -1}, "seed must be"),
        ({"seed": 2**64}, "seed must be"),
        ({"samples": 0}, "samples must be"),
        ({"samples": 10**12}, "samples must be"),
        ({"workers": -3}, "workers must be"),
    ],
)
def test_simulate_checks_its_options_as_a_library_function(options, message):
    graph, data = office_graph()
    entries = [graph.find(e) for e in data["entry_points"]]
    targets = [graph.find(t) for t in data["targets"]]
    with pytest.raises(InputError, match=message):
        simulate(graph, entries, targets, **{"samples": 100, **options})


@pytest.mark.parametrize(
    ("options", "message"),
    [({"precision": math.nan}, "precision must be"), ({"precision": 0.1, "max_samples": 0}, "max_samples must be")],
)
def test_simulate_until_checks_its_options(options, message):
    graph, data = office_graph()
    entries = [graph.find(e) for e in data["entry_points"]]
    targets = [graph.find(t) for t in data["targets"]]
    with pytest.raises(InputError, match=message):
        simulate_until(graph, entries, targets, **{"max_samples": 1000, **options})


def test_a_scenario_seed_outside_the_range_is_refused(tmp_path):
    scenario = write_scenario(tmp_path, seed=2**64)
    one_line_error(run_cli("simulate", str(scenario)), f"{scenario}: seed must be a whole number from 0 to 2^64 - 1")


# -- 6. TTCs that never complete -----------------------------------------------------------------------------


@pytest.mark.parametrize("ttc", ["1/0", "10^400", "LogNormal(1000, 100)", "Exponential(1e-320)"])
def test_a_ttc_that_never_completes_is_refused_without_numpy_warnings(tmp_path, ttc):
    scenario = write_scenario(tmp_path, ttc={"Windows.credentialDumping": ttc})
    error = one_line_error(run_cli("simulate", str(scenario)), f"{scenario}: ttc.Windows.credentialDumping = {ttc}")
    assert "never completes in practice" in error and "RuntimeWarning" not in error


def test_a_ttc_of_centuries_is_a_warning(tmp_path):
    scenario = write_scenario(tmp_path, ttc={"Windows.credentialDumping": "Exponential(1e-6)"}, samples=100)
    result = run_cli("simulate", str(scenario), "--format", "json")
    assert result.returncode == 0 and "RuntimeWarning" not in result.stderr
    (warning,) = json.loads(result.stdout)["warnings"]
    assert warning.startswith(f"{scenario}: ttc.Windows.credentialDumping = Exponential(1e-6): median time 6.93e+05")


def test_completion_problem_judges_the_typical_successful_attempt():
    assert completion_problem(parse("1/0"))[0] == "error"
    assert completion_problem(parse("Exponential(1e-320)"))[0] == "error"
    assert completion_problem(parse("Exponential(1e-6)"))[0] == "warning"
    for fine in ("Infinity", "Bernoulli(0)", "HardAndUncertain", "Pareto(1, 0.5)", "Exponential(0.01)"):
        assert completion_problem(parse(fine)) is None, fine  # on purpose, heavy-tailed, or ordinary


# -- 7. what-if takes defenses only --------------------------------------------------------------------------


def test_whatif_refuses_an_attack_step_as_a_defense(tmp_path):
    scenario = write_scenario(tmp_path)
    one_line_error(
        run_cli("whatif", str(scenario), "--defense", "ws-alice:execution"),
        "ws-alice:execution is an attack step, not a defense; defenses on this asset: ",
        "more (`breachpath lang show TYPE` lists them)",
    )
    graph, data = office_graph()
    with pytest.raises(InputError, match="is an attack step, not a defense"):
        whatif(graph, [graph.find(data["entry_points"][0])], [graph.find(data["targets"][0])],
               [graph.find("ws-alice:execution")], samples=100)  # fmt: skip


# -- 8. wrong types in documents: one line naming the file and the key --------------------------------------


BAD_MODELS = {
    "name is a list": ("assets:\n  0: {name: [a, b], type: Windows}\n", "asset 0: name must be text, not a list"),
    "type is a number": ("assets:\n  0: {name: a, type: 5}\n", "asset 0: type must be an asset type's name"),
    "type is missing": ("assets:\n  0: {name: a}\n", "asset 0: type must be an asset type's name, not none"),
    "defenses is text": ("assets:\n  0: {name: a, type: Windows, defenses: antivirus}\n", "asset 0 (a): defenses must"),
    "defense value is text": ("assets:\n  0: {name: a, type: Windows, defenses: {antivirus: high}}\n", "defense antivirus = 'high'"),
    "links is a list": ("assets:\n  0: {name: a, type: Windows, associated_assets: [b]}\n", "asset 0 (a): associated_assets must"),
    "link target is a mapping": ("assets:\n  0: {name: a, type: Windows, associated_assets: {data: [{x: 1}]}}\n", "data: expected asset names or ids, found a mapping"),
    "asset id is text": ("assets:\n  web: {name: a, type: Windows}\n", "assets: the key 'web' is not an asset id"),
    "asset id is 1.5": ("assets:\n  1.5: {name: a, type: Windows}\n", "assets: the key 1.5 is not an asset id"),
    "asset is a list": ("assets:\n  0: [a, Windows]\n", "asset 0: expected a mapping (name, type…), not a list"),
    "metadata is text": ("metadata: office\nassets:\n  0: {name: a, type: Windows}\n", "metadata must be a mapping"),
    "extras is a list": ("assets:\n  0: {name: a, type: Windows, extras: [1]}\n", "asset 0 (a): extras must be a mapping"),
    "unknown link target": ("assets:\n  0: {name: db01, type: Data}\n  1: {name: a, type: Windows, associated_assets: {data: [db1]}}\n", "data names unknown asset 'db1'; did you mean db01?"),
}  # fmt: skip


@pytest.mark.parametrize("case", BAD_MODELS, ids=str)
def test_a_model_with_a_wrong_type_is_one_line(tmp_path, case):
    text, message = BAD_MODELS[case]
    model = tmp_path / "m.yml"
    model.write_text(text)
    one_line_error(run_cli("model", "validate", str(model), "--lang", "attacklang"), f"{model}: ", message)


BAD_SCENARIOS = {
    "entry_points is a number": ({"entry_points": 5}, "entry_points: expected a list of asset:step, not the number 5"),
    "a target is a list": ({"targets": [["fs01:encrypt"]]}, "targets: expected a list of asset:step, found a list"),
    "defenses is text": ({"defenses": "all"}, "defenses must map asset:defense to a probability, not 'all'"),
    "a defense is text": ({"defenses": {"o365-alice:m1032MultiFactorAuthentication": "on"}}, "defenses.o365-alice:m1032MultiFactorAuthentication = 'on'"),
    "samples is text": ({"samples": "many"}, "samples must be a whole number from 1 to 100,000,000, not 'many'"),
    "samples is 1.5": ({"samples": 1.5}, "samples must be a whole number"),
    "samples is 10^12": ({"samples": 10**12}, "samples must be a whole number"),
    "seed is text": ({"seed": "lucky"}, "seed must be a whole number from 0 to 2^64 - 1, not 'lucky'"),
    "seed is negative": ({"seed": -1}, "seed must be a whole number"),
    "ttc is a list": ({"ttc": ["Exponential(1)"]}, "ttc must map"),
    "a ttc is a mapping": ({"ttc": {"Windows.credentialDumping": {"rate": 1}}}, "ttc.Windows.credentialDumping must be a MAL distribution (text), not a mapping"),
    "agents is a list": ({"agents": ["eve"]}, "agents must be a mapping of name to agent, not a list"),
    "an agent is text": ({"agents": {"eve": "attacker"}}, "agents.eve must be a mapping"),
    "an agent's goals are a mapping": ({"agents": {"eve": {"goals": {"a": 1}}}}, "agents.eve.goals: expected a list of asset:step, not a mapping"),
}  # fmt: skip


@pytest.mark.parametrize("case", BAD_SCENARIOS, ids=str)
def test_a_scenario_with_a_wrong_type_is_one_line(tmp_path, case):
    changes, message = BAD_SCENARIOS[case]
    scenario = write_scenario(tmp_path, **changes)
    one_line_error(run_cli("model", "validate", str(scenario)), f"{scenario}: ", message)


def test_json_scenarios_get_the_same_checks(tmp_path):
    data = copy.deepcopy(OFFICE)
    data["samples"] = "many"
    scenario = tmp_path / "s.json"
    scenario.write_text(json.dumps(data))
    one_line_error(run_cli("simulate", str(scenario)), f"{scenario}: samples must be a whole number")


# -- 9 and 10. tables say what they show; one ranking everywhere ---------------------------------------------


def test_the_table_shows_the_horizons_asked_for_and_what_quantiles_are_among(tmp_path):
    scenario = write_scenario(tmp_path, samples=200)
    result = run_cli("simulate", str(scenario), "--horizon", "1,7", env=WIDE)
    assert result.returncode == 0, result.stderr
    assert "P within 1 d" in result.stdout and "P within 7 d" in result.stdout
    assert "TTC quantiles and mean (days) are among the samples that compromised the step." in result.stdout
    summary = json.loads(run_cli("simulate", str(scenario), "--horizon", "1,7", "--format", "json").stdout)
    within = f"{summary['targets']['mailboxes:read']['within']['7']:.3f}"
    row = next(line for line in result.stdout.splitlines() if "mailboxes:read" in line)
    assert within in row


def test_whatif_cli_demo_and_report_rank_by_one_stated_measure(tmp_path):
    from breachpath.demo import technique_names
    from breachpath.report import render_html, report_data

    graph, data = office_graph()
    entries = [graph.find(e) for e in data["entry_points"]]
    targets = [graph.find(t) for t in data["targets"]]
    tried = whatif(graph, entries, targets, samples=400, seed=8, limit=8)
    assert tried["ranking"] == WHATIF_RANKING
    keys = [(-d["mean_p_reduction"], -(d["mean_median_increase"] or 0.0), d["name"]) for d in tried["defenses"]]
    assert keys == sorted(keys)
    for d in tried["defenses"]:
        assert d["mean_p_reduction"] == pytest.approx(np.mean([t["p_reduction"] for t in d["targets"].values()]))
    sim = simulate(graph, entries, targets, samples=400, seed=8, path_targets=len(targets))
    spec = compile_file(ATTACKLANG)
    shown = report_data(graph, sim, "t", technique_names(spec), entries, whatif=tried)
    assert [d["name"] for d in shown["defenses"]] == [d["name"] for d in tried["defenses"]][:10]
    assert f"ranked by {WHATIF_RANKING}" in render_html(shown)
    scenario = write_scenario(tmp_path, samples=200)
    table = run_cli("whatif", str(scenario), "--limit", "3", env=WIDE)
    assert table.returncode == 0, table.stderr
    assert f"Ranked by {WHATIF_RANKING}." in table.stdout


def test_whatif_bootstrap_memory_is_bounded_without_changing_its_numbers(monkeypatch):
    """Past 256 MiB the resamples are drawn a row at a time (10⁸ samples would need 160 GB at once)."""
    from breachpath.analysis import _BootstrapPicks

    held = np.array(list(_BootstrapPicks(7, 50, 1001)))
    assert held.shape == (50, 1001)
    monkeypatch.setattr(_BootstrapPicks, "MAX_BYTES", 0)
    streamed = _BootstrapPicks(7, 50, 1001)
    assert streamed.matrix is None
    np.testing.assert_array_equal(np.array(list(streamed)), held)


@pytest.mark.parametrize(
    ("finite_share", "samples"), [(0.0, 1001), (0.001, 1001), (0.5, 1001), (1.0, 1001), (0.5, 40_000)]
)
def test_whatif_bootstrap_medians_equal_the_median_of_each_resample(monkeypatch, finite_share, samples):
    """The whole-matrix medians (resamples sorted as ranks: 16-bit below 2¹⁵ samples) are, bit for bit, each
    resample's own median of its finite times, ties and ∞ included; NaN where a resample drew no finite time."""
    from breachpath.analysis import _BootstrapPicks

    rng = np.random.default_rng(3)
    times = np.round(rng.exponential(2.0, samples), 1).astype(np.float32)  # rounded: many ties
    times[rng.random(samples) >= finite_share] = np.inf
    held = _BootstrapPicks(11, 40, samples).medians(times)
    monkeypatch.setattr(_BootstrapPicks, "MAX_BYTES", 0)
    one_by_one = _BootstrapPicks(11, 40, samples).medians(times)
    np.testing.assert_array_equal(held, one_by_one)
    assert np.isnan(held).all() == (finite_share == 0.0)
