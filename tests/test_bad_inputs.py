"""Bad input through the command line: one line, exit code 2, bounded time and memory, nothing clobbered.

Each row of the table below is a hostile or broken input met in an adversarial campaign against every entry
point. The command runs in a child process under a 1.5 GiB address-space limit and a time limit; it must end with
exit code 2 and a single line on stderr that names the path the user gave, and never a traceback.
"""

from __future__ import annotations

import io
import os
import resource
import stat
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

MEMORY_LIMIT = 3 * 2**29  # 1.5 GiB of address space: the bombs of the campaign needed gigabytes
TIME_LIMIT = 120  # seconds; a hang is what this catches (a normal run takes one or two)

EXAMPLES = Path(__file__).resolve().parents[1] / "src" / "breachpath" / "examples"


def billion_laughs() -> str:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 9)]
    return "\n".join(lines) + "\n"


SCENARIO = """lang: attacklang
model:
  assets:
    0: {name: internet, type: Internet}
entry_points: ["internet:adversaryPresence"]
targets: ["internet:adversaryPresence"]
"""


MAL_DEEP = (
    '#id: "x"\n#version: "1.0.0"\ncategory C {\n  asset A {\n    | s\n      -> '
    + ".".join(["f"] * 1000)
    + ".s\n  }\n}\n"
)


# A language whose one timed step cites an estimate file beside it.
MAL_TIMED = (
    '#id: "x"\n#version: "1.0.0"\ncategory C {\n  asset A {\n    | s [Exponential(1)]\n'
    '      modeler info: "TTC: estimate estimates/T1.yaml (One): Exponential(1)."\n  }\n}\n'
)


# A scenario in that language: one asset whose timed step is both entry and target.
TIMED_SCENARIO = """lang: l.mal
model:
  assets:
    0: {name: a, type: A}
entry_points: ["a:s"]
targets: ["a:s"]
"""


def _npy() -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.zeros((3, 2), dtype=np.float32))
    return buffer.getvalue()


NPY = _npy()


def timed_language(estimate: str) -> dict[str, str]:
    """The files of the timed test language whose one estimate file, estimates/T1.yaml, holds ``estimate``."""
    return {"l.mal": MAL_TIMED, "estimates": "dir", "estimates/T1.yaml": estimate}


@dataclass
class Case:
    id: str
    argv: list[str]  # "{d}" is the case's directory
    files: dict[str, str | bytes] = field(default_factory=dict)  # name → content; "fifo" and "-> target" are special
    names: str = ""  # the path the message must name ("{d}" allowed); the first argument's by default


CASES = [
    # Devices, FIFOs and symlinks to devices are refused at once, never read until memory runs out or forever.
    Case("model-from-a-device", ["model", "validate", "/dev/zero", "--lang", "attacklang"], names="/dev/zero"),
    Case("scenario-is-a-fifo", ["simulate", "{d}/s.yml"], {"s.yml": "fifo"}),
    Case("scenario-links-to-a-device", ["simulate", "{d}/s.yml"], {"s.yml": "-> /dev/zero"}),
    Case(
        "scenario-model-is-a-device",
        ["simulate", "{d}/s.yml"],
        {"s.yml": "lang: attacklang\nmodel: m.yml\n", "m.yml": "-> /dev/zero"},
        names="{d}/m.yml",
    ),
    Case(
        "scenario-model-is-not-a-model-file",
        ["simulate", "{d}/s.yml"],
        {"s.yml": "lang: attacklang\nmodel: /etc/passwd\n"},
    ),
    Case("scenario-lang-is-not-a-language", ["simulate", "{d}/s.yml"], {"s.yml": "lang: /etc/passwd\nmodel: {}\n"}),
    # Alias bombs, deep nesting, keys that are lists, duplicate ids.
    Case("scenario-alias-bomb", ["simulate", "{d}/s.yml"], {"s.yml": billion_laughs()}),
    Case("model-alias-bomb", ["model", "validate", "{d}/m.yml", "--lang", "attacklang"], {"m.yml": billion_laughs()}),
    Case("scenario-deep-yaml", ["simulate", "{d}/s.yml"], {"s.yml": "[" * 50_000 + "]" * 50_000}),
    Case(
        "model-deep-json",
        ["model", "validate", "{d}/m.json", "--lang", "attacklang"],
        {"m.json": "[" * 50_000 + "]" * 50_000},
    ),
    Case("scenario-list-key", ["simulate", "{d}/s.yml"], {"s.yml": "[a]: 1\n"}),
    # A binary file or a control character: PyYAML's reader refuses them before parsing, with a two-line message.
    Case("scenario-binary", ["simulate", "{d}/s.yml"], {"s.yml": b"\x89PNG\r\n\x1a\n\x00\x00"}),
    Case("model-control-character", ["model", "validate", "{d}/m.yml", "--lang", "attacklang"], {"m.yml": "a: \x01\n"}),
    Case(
        "model-json-duplicate-asset-id",
        ["model", "validate", "{d}/m.json", "--lang", "attacklang"],
        {
            "m.json": '{"assets": {"0": {"name": "a", "type": "Internet"}, "0": {"name": "b", "type": "Internet"}}}',
        },
    ),
    # Asset ids that str.isdigit() calls digits but int() refuses: thousands of digits, a superscript two.
    Case(
        "model-json-asset-id-of-5000-digits",
        ["model", "validate", "{d}/m.json", "--lang", "attacklang"],
        {"m.json": '{"assets": {"' + "9" * 5000 + '": {"name": "a", "type": "Internet"}}}'},
    ),
    Case(
        "model-link-to-a-superscript-id",
        ["model", "validate", "{d}/m.yml", "--lang", "attacklang"],
        {"m.yml": 'assets: {0: {name: a, type: Internet, associated_assets: {people: ["\u00b2"]}}}\n'},
    ),
    Case(
        "scenario-asset-id-beyond-int64",
        ["simulate", "{d}/s.yml"],
        {"s.yml": SCENARIO.replace("    0: {name: internet", "    99999999999999999999999: {name: internet")},
    ),
    # A misspelt key was ignored and the run went on without what it meant (no defense, default samples).
    Case("scenario-defenses-empty-text", ["simulate", "{d}/s.yml"], {"s.yml": SCENARIO + "defenses: ''\n"}),
    Case("scenario-misspelt-defenses", ["simulate", "{d}/s.yml"], {"s.yml": SCENARIO + "defences: {}\n"}),
    Case(
        "asset-misspelt-defenses",
        ["simulate", "{d}/s.yml"],
        {"s.yml": SCENARIO.replace("type: Internet}", "type: Internet, defences: {}}")},
    ),
    # MAL: includes of devices, of files outside the language's directory, of files that are not MAL.
    Case("include-a-device", ["lang", "compile", "{d}/main.mal"], {"main.mal": 'include "/dev/zero"\n'}, "/dev/zero"),
    Case(
        "include-outside-the-language",
        ["lang", "compile", "{d}/main.mal"],
        {"main.mal": 'include "../../../../../../../etc/passwd"\n'},
        "{d}/main.mal",
    ),
    Case("expression-of-a-thousand-parts", ["lang", "compile", "{d}/main.mal"], {"main.mal": MAL_DEEP}),
    # Saved results and graphs: not an archive, a .npy renamed, truncated, a FIFO.
    Case("results-empty", ["results", "show", "{d}/r.npz"], {"r.npz": b""}),
    Case("results-a-renamed-npy", ["results", "show", "{d}/r.npz"], {"r.npz": NPY}),
    Case("results-truncated-zip", ["results", "show", "{d}/r.npz"], {"r.npz": b"PK\x03\x04" + b"\0" * 40}),
    Case("results-a-fifo", ["report", "{d}/r.npz", "--html", "{d}/r.html"], {"r.npz": "fifo"}),
    Case("graph-a-renamed-npy", ["graph", "show", "{d}/g.npz", "a:b"], {"g.npz": NPY}),
    # The knowledge base: a store that is not one, a bundle that is a device.
    Case("kb-not-a-store", ["kb", "show", "T1059", "--db", "{d}/kb.sqlite"], {"kb.sqlite": "hello"}, "{d}/kb.sqlite"),
    # A --db that is not a knowledge base is an error, not silently a run without one.
    Case("demo-db-is-a-device", ["demo", "--db", "/dev/zero", "--no-build-kb"], names="/dev/zero"),
    Case(
        "layer-db-is-a-directory",
        ["simulate", "{d}/s.yml", "--navigator", "{d}/layer.json", "--db", "{d}"],
        {"s.yml": SCENARIO},
        "{d}",
    ),
    Case("kb-bundle-is-a-device", ["kb", "load", "--attack", "/dev/zero", "--db", "{d}/kb.sqlite"], names="/dev/zero"),
    # Options and values.
    # A newline in a name the user gave is shown escaped: the error stays one line.
    Case(
        "target-with-a-newline", ["simulate", "{d}/s.yml", "--target", "internet\nx:y"], {"s.yml": SCENARIO}, "--target"
    ),
    Case("scenario-name-with-a-newline", ["simulate", "{d}/a\nb.yml"], names="{d}/a\\nb.yml"),
    Case("seed-negative", ["simulate", "{d}/s.yml", "--seed", "-1"], {"s.yml": SCENARIO}, "--seed"),
    Case("seed-too-large", ["simulate", "{d}/s.yml", "--seed", str(2**64)], {"s.yml": SCENARIO}, "--seed"),
    Case("samples-a-trillion", ["simulate", "{d}/s.yml", "--samples", str(10**12)], {"s.yml": SCENARIO}, "--samples"),
    # Allowed sample counts whose results do not fit in memory: one line, not a MemoryError traceback.
    Case(
        "every-step-of-10-to-the-8-samples",
        ["simulate", "{d}/s.yml", "--all-steps", "--samples", str(10**8)],
        {"s.yml": (EXAMPLES / "small-office.yml").read_text()},
        "--samples",
    ),
    Case(
        "max-samples-zero",
        ["simulate", "{d}/s.yml", "--precision", "0.1", "--max-samples", "0"],
        {"s.yml": SCENARIO},
        "--max-samples",
    ),
    Case(
        "max-samples-negative-without-precision",
        ["simulate", "{d}/s.yml", "--max-samples", "-5"],
        {"s.yml": SCENARIO},
        "--max-samples",
    ),
    Case("precision-nan", ["simulate", "{d}/s.yml", "--precision", "nan"], {"s.yml": SCENARIO}, "--precision"),
    Case("workers-zero", ["whatif", "{d}/s.yml", "--workers", "0"], {"s.yml": SCENARIO}, "--workers"),
    Case("horizon-of-no-days", ["simulate", "{d}/s.yml", "--horizon", ","], {"s.yml": SCENARIO}, "--horizon"),
    Case("horizon-nan", ["simulate", "{d}/s.yml", "--horizon", "nan,7"], {"s.yml": SCENARIO}, "--horizon"),
    Case(
        "ttc-that-never-completes",
        ["simulate", "{d}/s.yml"],
        {"s.yml": SCENARIO + 'ttc: {"Internet.adversaryPresence": "1/0"}\n'},
    ),
    Case(
        "ttc-a-number-beyond-float",
        ["simulate", "{d}/s.yml"],
        {"s.yml": SCENARIO + 'ttc: {"Internet.adversaryPresence": ' + "9" * 400 + "}\n"},
    ),
    Case(
        "whatif-an-attack-step-as-a-defense",
        ["whatif", "{d}/s.yml", "--defense", "internet:adversaryPresence"],
        {"s.yml": SCENARIO},
        "internet:adversaryPresence",
    ),
    # Outputs: a device is never replaced, a missing directory is not created.
    Case("report-over-a-device", ["simulate", "{d}/s.yml", "--report", "/dev/null"], {"s.yml": SCENARIO}, "/dev/null"),
    Case(
        "graph-over-a-device", ["graph", "build", "{d}/s.yml", "--out", "/dev/full"], {"s.yml": SCENARIO}, "/dev/full"
    ),
    # An output never replaces the command's input, nor another output of the same run.
    Case("save-over-the-scenario", ["simulate", "{d}/s.yml", "--save", "{d}/s.yml"], {"s.yml": SCENARIO}),
    Case(
        "save-through-a-symlink-to-the-scenario",
        ["simulate", "{d}/s.yml", "--save", "{d}/r.npz"],
        {"s.yml": SCENARIO, "r.npz": "-> s.yml"},
        "{d}/r.npz",
    ),
    Case(
        "report-and-layer-to-one-file",
        ["simulate", "{d}/s.yml", "--report", "{d}/out", "--navigator", "{d}/out"],
        {"s.yml": SCENARIO},
        "{d}/out",
    ),
    Case("export-a-model-over-itself", ["model", "export", "{d}/s.yml", "--out", "{d}/s.yml"], {"s.yml": SCENARIO}),
    Case(
        "layer-into-a-missing-directory",
        ["simulate", "{d}/s.yml", "--navigator", "{d}/no/such/layer.json"],
        {"s.yml": SCENARIO},
        "{d}/no/such/layer.json",
    ),
    # `evidence coverage` reads the language and the estimate files beside it: each may be broken or not a file.
    Case("coverage-language-is-a-fifo", ["evidence", "coverage", "--lang", "{d}/l.mal"], {"l.mal": "fifo"},
         "{d}/l.mal"),
    Case(
        "coverage-estimate-is-a-fifo",
        ["evidence", "coverage", "--lang", "{d}/l.mal"],
        timed_language("fifo"),
        "{d}/estimates/T1.yaml",
    ),
    Case(
        "coverage-estimate-alias-bomb",
        ["evidence", "coverage", "--lang", "{d}/l.mal"],
        timed_language(billion_laughs()),
        "{d}/estimates/T1.yaml",
    ),
    # Parameter uncertainty and sensitivity (issue 16) read the same estimate files, and write a report.
    Case("sensitivity-scenario-is-a-fifo", ["sensitivity", "{d}/s.yml"], {"s.yml": "fifo"}),
    Case("sensitivity-of-a-device", ["sensitivity", "/dev/zero"], names="/dev/zero"),
    Case(
        "sensitivity-report-into-a-missing-directory",
        ["sensitivity", "{d}/s.yml", "--report", "{d}/no/such/r.html"],
        {"s.yml": SCENARIO},
        "{d}/no/such/r.html",
    ),
    Case(
        "sensitivity-estimate-with-a-reversed-interval",
        ["sensitivity", "{d}/s.yml"],
        {"s.yml": TIMED_SCENARIO, **timed_language("name: One\nresult: Exponential(1)\ntime_interval: [2, 1]\n")},
        "{d}/estimates/T1.yaml",
    ),
    Case(
        "uncertainty-estimate-with-a-probability-above-one",
        ["simulate", "{d}/s.yml", "--uncertainty", "--outer", "5"],
        {"s.yml": TIMED_SCENARIO, **timed_language("name: One\nresult: Exponential(1)\nprobability_interval: [0.2, 7]\n")},
        "{d}/estimates/T1.yaml",
    ),
    Case(
        "uncertainty-estimate-alias-bomb",
        ["simulate", "{d}/s.yml", "--uncertainty", "--outer", "5"],
        {"s.yml": TIMED_SCENARIO, **timed_language(billion_laughs())},
        "{d}/estimates/T1.yaml",
    ),
    Case("uncertainty-outer-too-many", ["simulate", "{d}/s.yml", "--uncertainty", "--outer", "100000"],
         {"s.yml": SCENARIO}, "--outer"),
    Case("sensitivity-top-zero", ["sensitivity", "{d}/s.yml", "--top", "0"], {"s.yml": SCENARIO}, "--top"),
    # An actor's Navigator layer (issue 17) is a file the user names: refused if not a file, checked if it is.
    Case("actor-layer-is-a-fifo", ["actor", "show", "{d}/l.json"], {"l.json": "fifo"}, names="{d}/l.json"),
    Case("actor-layer-is-a-device", ["actor", "show", "{d}/l.json"], {"l.json": "-> /dev/zero"}, names="{d}/l.json"),
    Case("actor-layer-bad-technique", ["actor", "show", "{d}/l.json"],
         {"l.json": '{"techniques": [{"techniqueID": "rm -rf"}]}'}, names="{d}/l.json"),
    Case("actor-layer-not-json", ["actor", "show", "{d}/l.json"], {"l.json": "{"}, names="{d}/l.json"),
    Case("simulate-actor-layer-is-a-fifo", ["simulate", "{d}/s.yml", "--actor", "{d}/l.json"],
         {"s.yml": SCENARIO, "l.json": "fifo"}, names="{d}/l.json"),
    Case("whatif-actor-not-techniques", ["whatif", "{d}/s.yml", "--actor", "T1566,$(reboot)"], {"s.yml": SCENARIO},
         names="$(reboot)"),
    Case("whatif-actor-outside-zero", ["whatif", "{d}/s.yml", "--actor", "T1566", "--outside", "0"],
         {"s.yml": SCENARIO}, names="--outside"),
    Case("actors-without-a-knowledge-base", ["actors", "{d}/s.yml"], {"s.yml": SCENARIO}, names="{d}/home/kb.sqlite"),
    Case("actors-layer-to-a-device", ["actors", "{d}/s.yml", "--navigator", "/dev/full"], {"s.yml": SCENARIO},
         names="/dev/full"),
    Case("actors-report-to-a-directory", ["actors", "{d}/s.yml", "--report", "{d}/out"],
         {"s.yml": SCENARIO, "out": "dir"}, names="{d}/out"),
    Case("actors-horizon-not-finite", ["actors", "{d}/s.yml", "--horizon", "inf"], {"s.yml": SCENARIO}, "--horizon"),
    Case("actors-via-rumours", ["actors", "{d}/s.yml", "--via", "rumours", "--db", "{d}/kb.sqlite"],
         {"s.yml": SCENARIO, "kb.sqlite": "not a database"}, names="{d}/kb.sqlite"),
    Case("report-actor-mode-unknown", ["report", "{d}/r.npz", "--html", "{d}/r.html", "--actor", "T1566",
                                       "--actor-mode", "lenient"], {"r.npz": NPY}, names="--actor-mode"),
]  # fmt: skip


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def _lay_out(directory: Path, files: dict[str, str | bytes]) -> None:
    for name, text in files.items():
        path = directory / name
        if text == "dir":
            path.mkdir()
        elif isinstance(text, bytes):
            path.write_bytes(text)
        elif text == "fifo":
            os.mkfifo(path)
        elif text.startswith("-> "):
            path.symlink_to(text[3:])
        else:
            path.write_text(text)


def run_cli(argv: list[str], **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "BREACHPATH_HOME": kwargs.pop("home", os.environ.get("BREACHPATH_HOME", "/nonexistent"))}
    return subprocess.run(
        [sys.executable, "-m", "breachpath.cli", *argv],
        capture_output=True,
        text=True,
        timeout=TIME_LIMIT,
        preexec_fn=_limit_memory,
        stdin=subprocess.DEVNULL,
        env=env,
        **kwargs,
    )


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_gets_one_line_and_exit_code_2(case: Case, tmp_path):
    _lay_out(tmp_path, case.files)
    argv = [a.replace("{d}", str(tmp_path)) for a in case.argv]
    first_path = 2 if case.argv[0] in ("model", "graph", "lang", "results") else 1
    named = (case.names or case.argv[first_path]).replace("{d}", str(tmp_path))
    devices = {p: os.stat(p) for p in ("/dev/null", "/dev/full", "/dev/zero")}
    done = run_cli(argv, home=str(tmp_path / "home"))
    lines = done.stderr.strip().splitlines()
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: ") and named in lines[0], lines[0]
    for path, before in devices.items():
        after = os.stat(path)
        assert stat.S_ISCHR(after.st_mode) and after.st_ino == before.st_ino, f"{path} was replaced"
