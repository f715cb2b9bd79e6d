"""Loading what users give: a scenario or a model file is parsed once (a 1,000-host YAML model takes seconds)."""

from __future__ import annotations

import breachpath.model as model_module
from breachpath.demo import example_path
from breachpath.model import write_model
from breachpath.samples import corelang_enterprise
from breachpath.scenario import read_source


def count_parses(monkeypatch) -> list[str]:
    seen: list[str] = []
    original = model_module.load_document

    def counting(path, *args, **kwargs):
        seen.append(str(path))
        return original(path, *args, **kwargs)

    monkeypatch.setattr(model_module, "load_document", counting)
    return seen


def test_a_model_file_is_parsed_once(tmp_path, monkeypatch):
    path = tmp_path / "model.yml"
    write_model(corelang_enterprise(2), path)
    seen = count_parses(monkeypatch)
    model, scenario = read_source(path)
    assert scenario is None and len(model.assets) > 10
    assert seen == [str(path)]


def test_a_scenario_is_parsed_once_and_gives_its_model(monkeypatch):
    seen = count_parses(monkeypatch)
    model, scenario = read_source(example_path("small-office"))
    assert scenario is not None and scenario.model is model and scenario.targets
    assert seen == [str(example_path("small-office"))]
