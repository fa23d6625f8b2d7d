"""``ragc.registry.loader``: search order, TOML-located diagnostics, repair of
broken entries, cross references, and ``${VAR}`` left for run time."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragc.diagnostics.render import render_text
from ragc.registry.loader import config_path, find_registry, load_registry

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _isolated_config(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def codes_at(load) -> list[tuple[str, int, int]]:
    return [(d.code, d.span.line, d.span.column) if d.span else (d.code, 0, 0) for d in load.diagnostics]


# --------------------------------------------------------------------------- search order


def test_search_order_explicit_then_cwd_then_config(tmp_path):
    explicit = write(tmp_path / "other.toml", "")
    local = write(tmp_path / "registry.toml", "")
    user = write(tmp_path / "xdg" / "ragc" / "registry.toml", "")
    assert config_path() == user
    assert find_registry(explicit, tmp_path) == explicit
    assert find_registry(None, tmp_path) == local
    local.unlink()
    assert find_registry(None, tmp_path) == user
    user.unlink()
    assert find_registry(None, tmp_path) is None


def test_config_path_defaults_to_home(monkeypatch, tmp_path):
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert config_path() == tmp_path / ".config" / "ragc" / "registry.toml"


def test_explicit_missing_file_is_an_io_error(tmp_path):
    load = load_registry(tmp_path / "nope.toml", cwd=tmp_path)
    assert load.registry is None and load.io_error
    assert [d.code for d in load.diagnostics] == ["E0806"]
    assert load.diagnostics[0].message == "cannot read registry `nope.toml`: no such file or directory"


def test_no_registry_is_an_empty_one_with_a_warning(tmp_path):
    load = load_registry(None, cwd=tmp_path)
    assert load.path is None and load.registry is not None and load.registry.models == {}
    (d,) = load.diagnostics
    assert d.code == "W0801" and d.span is None
    assert load.ok


def test_repository_registry_loads_clean():
    load = load_registry(ROOT / "registry.toml", cwd=ROOT)
    # W0960 (no OS sandbox for its run_command tools) depends on the machine: tests/security
    assert [d for d in load.diagnostics if d.code != "W0960"] == [] and load.ok
    assert "default" in load.registry.models and "research_agent" in load.registry.agents


# --------------------------------------------------------------------------- broken registries


def test_toml_syntax_error_has_its_position(tmp_path):
    write(tmp_path / "registry.toml", '[models.default]\nprovider = "local"\nthreads = = 2\n')
    load = load_registry(None, cwd=tmp_path)
    assert load.registry is None
    assert codes_at(load) == [("E0801", 3, 11)]
    assert load.diagnostics[0].message.startswith("invalid TOML: ")


def test_unknown_key_with_its_line_and_did_you_mean(tmp_path):
    write(tmp_path / "registry.toml", '[models.default]\nprovider = "local"\n\n[agents.helper]\nmodle = "default"\n')
    load = load_registry(None, cwd=tmp_path)
    assert codes_at(load) == [("E0802", 5, 1)]
    d = load.diagnostics[0]
    assert d.message == "unknown key `modle` in `[agents.helper]`" and d.help == "did you mean `model`?"
    assert "helper" in load.registry.agents  # the rest of the entry still loads


def test_unknown_top_level_table(tmp_path):
    write(tmp_path / "registry.toml", '[model.default]\nprovider = "local"\n')
    load = load_registry(None, cwd=tmp_path)
    assert codes_at(load) == [("E0802", 1, 1)]
    assert load.diagnostics[0].help == "did you mean `models`?"


def test_wrong_type_points_at_the_value(tmp_path):
    write(tmp_path / "registry.toml", '[agents.helper]\nmax_iterations = "many"\n\n[models.default]\nprovider = "local"\n')
    load = load_registry(None, cwd=tmp_path)
    assert codes_at(load) == [("E0803", 2, 18)]
    assert load.diagnostics[0].message == "invalid value for `max_iterations` in `[agents.helper]`: expected an integer"
    assert load.registry.agents["helper"].max_iterations == 8  # the bad key was dropped


def test_bad_duration(tmp_path):
    write(tmp_path / "registry.toml", '[tools.shell]\nbuiltin = "run_command"\ntimeout = "two minutes"\n')
    load = load_registry(None, cwd=tmp_path)
    assert [c for c in codes_at(load) if c[0] != "W0960"] == [("E0804", 3, 11)]  # W0960: machine-dependent
    assert next(d for d in load.diagnostics if d.code == "E0804").message == "invalid duration `two minutes`"


def test_missing_key_points_at_the_table_and_drops_the_entry(tmp_path):
    write(tmp_path / "registry.toml", '[models.default]\nprovider = "local"\n\n[models.broken]\nsource = "x"\n')
    load = load_registry(None, cwd=tmp_path)
    assert codes_at(load) == [("E0805", 4, 1)]
    assert sorted(load.registry.models) == ["default"]


def test_inline_table_key_and_array_element(tmp_path):
    write(tmp_path / "registry.toml",
          '[models.default]\nprovider = "local"\nprice = { input_per_mtok = "cheap" }\n\n'
          '[agents.a]\ntools = ["search", 3]\n')
    load = load_registry(None, cwd=tmp_path)
    assert codes_at(load) == [("E0803", 3, 28), ("E0803", 6, 20)]
    assert "`tools[1]` in `[agents.a]`" in load.diagnostics[1].message


def test_dotted_keys_and_entry_validators(tmp_path):
    write(tmp_path / "registry.toml",
          '[models]\ndefault.provider = "local"\ndefault.treads = 2\n\n[tools.t]\ndescription = "x"\n')
    load = load_registry(None, cwd=tmp_path)
    assert codes_at(load) == [("E0802", 3, 1), ("E0803", 5, 1)]
    assert load.diagnostics[1].message.startswith("invalid entry `[tools.t]`: a tool needs exactly one of")


def test_cross_references(tmp_path):
    write(tmp_path / "registry.toml",
          '[models.default]\nprovider = "local"\nfallbacks = ["fsat"]\n\n'
          '[tools.search]\nbuiltin = "search"\n\n'
          '[agents.a]\nmodel = "defualt"\ntools = ["serch"]\n\n'
          '[policies.untrusted]\nallow_tools = ["search", "write"]\n')
    load = load_registry(None, cwd=tmp_path)
    assert codes_at(load) == [("E0807", 3, 14), ("E0807", 9, 9), ("E0807", 10, 10), ("E0807", 13, 26)]
    assert load.diagnostics[1].help == "did you mean `default`?"


def test_referenced_files_must_exist(tmp_path):
    write(tmp_path / "registry.toml", '[graphs.sub]\npath = "flows/sub.rag"\n\n[agents.a]\nsystem_file = "a.md"\n'
                                      '[models.default]\nprovider = "local"\n')
    load = load_registry(None, cwd=tmp_path)
    assert [c for c, _, _ in codes_at(load)] == ["E0808", "E0808"]
    write(tmp_path / "flows" / "sub.rag", "")
    write(tmp_path / "a.md", "You help.")
    assert load_registry(None, cwd=tmp_path).diagnostics == []


def test_variables_are_not_resolved_at_check_time(tmp_path, monkeypatch):
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    write(tmp_path / "registry.toml",
          '[models.m]\nprovider = "openai"\nmodel = "x"\napi_key = "${NOT_SET_ANYWHERE}"\n'
          'base_url = "${BASE:-http://localhost}"\n')
    load = load_registry(None, cwd=tmp_path)
    assert load.diagnostics == []
    assert load.registry.models["m"].api_key == "${NOT_SET_ANYWHERE}"
    assert load.registry.models["m"].base_url == "${BASE:-http://localhost}"


def test_diagnostics_render_with_the_toml_snippet(tmp_path):
    write(tmp_path / "registry.toml", '[agents.helper]\nmodle = "default"\n[models.default]\nprovider = "local"\n')
    load = load_registry(None, cwd=tmp_path)
    text = render_text(load.diagnostics, load.sources)
    assert text.startswith("error[E0802]: unknown key `modle` in `[agents.helper]`\n --> registry.toml:2:1\n"
                           "  |\n2 | modle = \"default\"\n  | ^^^^^ unknown key\n")


def test_the_source_key_is_not_settable(tmp_path):
    write(tmp_path / "registry.toml", 'source = "/etc"\n')
    load = load_registry(None, cwd=tmp_path)
    assert codes_at(load) == [("E0802", 1, 1)]
    assert load.registry.source == (tmp_path / "registry.toml").resolve()


def test_relative_paths_resolve_against_the_registry(tmp_path):
    write(tmp_path / "conf" / "registry.toml", '[models.default]\nprovider = "local"\n')
    load = load_registry(tmp_path / "conf" / "registry.toml", cwd=tmp_path)
    assert load.registry.base_dir == (tmp_path / "conf").resolve()
    assert load.display == "conf/registry.toml"


def test_bad_value_of_a_required_key_is_reported_once(tmp_path):
    write(tmp_path / "registry.toml", '[models.x]\nprovider = 3\n\n[tools.t]\nbuiltin = "serch"\n')
    load = load_registry(None, cwd=tmp_path)
    # not also "missing key `provider`" nor "a tool needs exactly one of ..." after the key is dropped
    assert codes_at(load) == [("E0803", 2, 12), ("E0803", 5, 11)]
    assert load.diagnostics[1].message.endswith("unknown builtin `serch`, did you mean `search`?")
    assert load.registry.models == {} and load.registry.tools == {}


def test_every_bad_array_element_is_located(tmp_path):
    write(tmp_path / "registry.toml", '[models.x]\nprovider = "local"\nfallbacks = [1, 2]\n')
    load = load_registry(None, cwd=tmp_path)
    assert codes_at(load) == [("E0803", 3, 14), ("E0803", 3, 17)]


@pytest.mark.parametrize("value", ["-5", "0", "inf", "nan", "1e400"])
def test_durations_must_be_positive_and_finite(tmp_path, value):
    write(tmp_path / "registry.toml", f'[models.x]\nprovider = "local"\ntimeout = {value}\n')
    load = load_registry(None, cwd=tmp_path)
    assert codes_at(load) == [("E0803", 3, 11)]
    assert load.registry.models["x"].timeout == 120.0  # the bad key was dropped


def test_builtin_names_match_the_harness():
    from ragc.harness.tools import BUILTIN_NAMES
    from ragc.registry.model import BUILTIN_TOOLS

    assert set(BUILTIN_TOOLS) == set(BUILTIN_NAMES)


def test_malformed_variable_references(tmp_path):
    write(tmp_path / "registry.toml",
          '[models.m]\nprovider = "openai"\nmodel = "x"\napi_key = "${OPENAI_KEY"\n'
          'base_url = "http://${HOST:-localhost}:$$/${1X}"\napi_keys = ["${A}", "${B C}"]\n')
    load = load_registry(None, cwd=tmp_path)
    assert codes_at(load) == [("E0803", 4, 11), ("E0803", 5, 12), ("E0803", 6, 21)]
    assert load.diagnostics[0].message == ("invalid value for `api_key` in `[models.m]`: malformed variable "
                                           "reference `${OPENAI_KEY`")
    assert "`${1X}`" in load.diagnostics[1].message and "`api_keys[1]`" in load.diagnostics[2].message


def test_empty_file_path_is_not_found(tmp_path):
    write(tmp_path / "registry.toml", '[graphs.sub]\npath = ""\n')
    load = load_registry(None, cwd=tmp_path)
    assert codes_at(load) == [("E0808", 2, 8)]
