"""registry.toml and the journal are found from a subfolder by walking up to
the project root (issue 13, point 3), with real ``ragc`` processes."""

from __future__ import annotations

from clikit import ragc


def test_check_from_a_subfolder_finds_the_registry_above(project):
    sub = project / "sub" / "dir"
    r = ragc("check", "hello.rag", cwd=sub)
    assert r.code == 0, r.out + r.err
    assert "W0801" not in r.out and "unknown model" not in r.out
    assert "ok: checked 1 file, no problems" in r.out


def test_run_from_a_subfolder_journals_at_the_root_and_runs_list_finds_it(project):
    sub = project / "sub" / "dir"
    r = ragc("run", "hello.rag", "-i", "name=Ada", "--run-id", "r-upward", cwd=sub)
    assert r.code == 0, r.err
    assert r.out.strip() == "Hello there"
    assert (project / ".ragc" / "runs.sqlite").is_file()
    assert not (sub / ".ragc").exists()
    for where in (sub, project / "sub", project):
        listed = ragc("runs", "list", cwd=where)
        assert listed.code == 0 and "r-upward" in listed.out, (where, listed.out, listed.err)
    shown = ragc("runs", "show", "r-upward", cwd=sub)
    assert shown.code == 0 and "status completed" in shown.out


def test_the_search_stops_at_the_project_root(tmp_path, project):
    # A registry above the project's .git is not the project's.
    (tmp_path / "registry.toml").write_text(project.joinpath("registry.toml").read_text())
    (project / "registry.toml").unlink()
    r = ragc("check", "hello.rag", cwd=project / "sub" / "dir")
    assert "W0801" in r.out
    assert f"and its parents up to `{project}`" in r.out


def test_a_journal_that_does_not_exist_is_an_error(project):
    r = ragc("runs", "list", "--journal", "/nope/x.sqlite", cwd=project)
    assert r.code == 2
    assert "error: no journal at `/nope/x.sqlite`" in r.err and "Traceback" not in r.err
    # the default journal not existing yet just means no runs, and says where it looked
    r = ragc("runs", "list", cwd=project / "sub")
    assert r.code == 0 and "no runs yet" in r.out and str(project / ".ragc" / "runs.sqlite") in r.out
