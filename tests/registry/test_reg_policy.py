"""PolicyEntry.narrowed_by: the policy that grants only what both grant."""

from ragc.registry.model import PolicyEntry, RunCommandPolicy


def test_allowlists_intersect_and_limits_take_the_smaller():
    a = PolicyEntry(allow_tools=("read_file", "search", "run_command"), max_steps=500, max_cost_usd=5.0,
                    deny_tools=("write_file",))
    b = PolicyEntry(allow_tools=("search", "read_file", "list_files"), max_steps=200, max_tokens=1000,
                    deny_tools=("run_command",), require_approval=True)
    p = a.narrowed_by(b)
    assert p.allow_tools == ("read_file", "search")
    assert p.deny_tools == ("write_file", "run_command")
    assert (p.max_steps, p.max_cost_usd, p.max_tokens) == (200, 5.0, 1000)
    assert p.allow_models is None and p.require_approval


def test_run_command_limits_narrow_and_disjoint_lists_allow_nothing():
    a = PolicyEntry(run_command=RunCommandPolicy(allow=("ls", "git"), timeout=120, max_output_bytes=65536))
    b = PolicyEntry(run_command=RunCommandPolicy(allow=("pytest",), timeout=30, max_output_bytes=4096))
    rc = a.narrowed_by(b).run_command
    assert rc.allow == () and rc.timeout == 30 and rc.max_output_bytes == 4096
    only_one = a.narrowed_by(PolicyEntry()).run_command
    assert only_one.allow == ("ls", "git")
    any_program = PolicyEntry(run_command=RunCommandPolicy()).narrowed_by(a).run_command
    assert any_program.allow == ("ls", "git")
