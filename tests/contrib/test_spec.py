"""The Rustagent spec.json functions: building a spec from a plan, taking
the next task, recording outcomes."""

from ragc.contrib.spec import STATUSES, spec_from_plan, spec_next_task, spec_record, spec_unblock

KEYS = {"name", "description", "branch_name", "created_at", "tasks", "learnings"}
TASK_KEYS = {"id", "title", "description", "acceptance_criteria", "status", "blocked_reason", "completed_at",
             "checks", "attempts", "last_check", "verified_by"}
PASSED = {"passed": True, "results": [{"check": "a.txt exists", "passed": True, "detail": "exists"}]}
FAILED = {"passed": False, "results": [{"check": "a.txt exists", "passed": False, "detail": "a.txt does not exist"}]}


def test_a_structured_plan_becomes_a_spec_in_the_rustagent_format():
    spec = spec_from_plan({"goal": "Add logging", "plan": {"name": "Add Logging!", "tasks": [
        {"title": "Pick a library", "description": "Choose one", "acceptance_criteria": ["chosen"]},
        "Wire it in",
    ]}})
    assert set(spec) == KEYS and spec["name"] == "add-logging" and spec["branch_name"] == "feature/add-logging"
    assert spec["created_at"].endswith("Z") and spec["learnings"] == []
    t1, t2 = spec["tasks"]
    assert set(t1) == TASK_KEYS and t1["id"] == "task-1" and t1["status"] == "pending"
    assert t1["acceptance_criteria"] == ["chosen"] and t1["checks"] == [] and t1["attempts"] == 0
    assert t2["title"] == "Wire it in" and t2["acceptance_criteria"] == ["Wire it in is done and verified"]


def test_odd_plans_from_small_models_still_give_text_fields():
    spec = spec_from_plan({"goal": "g", "plan": {"tasks": [
        {"title": {"description": "Create hello.txt", "status": "pending"}, "acceptance_criteria": "has hello\n- ends"},
    ]}})
    task = spec["tasks"][0]
    assert task["title"] == "Create hello.txt"
    assert task["acceptance_criteria"] == ["has hello", "ends"]
    assert spec_from_plan({"goal": "Just do it", "plan": None})["tasks"][0]["title"] == "Just do it"
    lines = spec_from_plan({"goal": "g", "plan": "- one\n- two\n"})
    assert [t["title"] for t in lines["tasks"]] == ["one", "two"]


def test_planned_checks_become_run_checks_entries_and_trivial_commands_are_dropped():
    spec = spec_from_plan({"goal": "write fib.py that prints 0 1 1 2", "plan": {"tasks": [
        {"title": "Write fib", "description": "d", "files": ["/fib.py", "./fib.py"], "command": "python3 fib.py",
         "expect": "0 1 1 2"},
        {"title": "Say hi", "description": "d", "files": [], "command": "echo done", "expect": "done"},
    ]}})
    t1, t2 = spec["tasks"]
    assert t1["checks"] == [{"file": "fib.py"}, {"command": "python3 fib.py", "expect": "0 1 1 2"}]
    assert t1["acceptance_criteria"] == ["fib.py exists", "`python3 fib.py` succeeds and prints '0 1 1 2'"]
    assert t2["checks"] == []  # `echo` proves nothing about the workspace


def _spec(*titles):
    return spec_from_plan({"goal": "g", "plan": {"tasks": [
        {"title": t, "description": t, "files": [f"{t}.txt"], "command": "", "expect": ""} for t in titles]}})


def test_without_a_command_expect_is_file_content_and_python_files_must_run():
    spec = spec_from_plan({"goal": "a hello file, and a fib.py that prints 0 1 1", "plan": {"tasks": [
        {"title": "Write hello", "description": "d", "files": ["hello.txt"], "command": "", "expect": "Hello, ragc!"},
        {"title": "Write fib", "description": "d", "files": ["fib.py"], "command": "", "expect": "0\n1\n1"},
        {"title": "Write two", "description": "d", "files": ["a.py", "b.py"], "command": "", "expect": ""},
    ]}})
    hello, fib, two = spec["tasks"]
    assert hello["checks"] == [{"file": "hello.txt", "contains": "Hello, ragc!"}]
    assert fib["checks"] == [{"file": "fib.py"}, {"command": "python3 fib.py", "expect": "0\n1\n1"}]
    assert two["checks"] == [{"file": "a.py"}, {"file": "b.py"}, {"command": "python3 b.py"}, {"command": "python3 a.py"}]


def test_output_the_goal_does_not_promise_is_not_required_and_commands_the_goal_names_are():
    # real plans of Qwen2.5-Coder-1.5B: `python3 calc.py` "must print 5" for a module that only
    # defines add(), so the task could never pass; the goal's own test command was not a check
    goal = ("Fix the bug in calc.py so that add(2, 3) returns 5. The tests in test_calc.py must pass "
            "(run python3 test_calc.py).")
    spec = spec_from_plan({"goal": goal, "plan": {"tasks": [
        {"title": "Fix the bug in calc.py", "description": "d", "files": ["calc.py"], "command": "python3 calc.py",
         "expect": "5"},
        {"title": "Run the tests", "description": "d", "files": [], "command": "", "expect": ""}]}})
    fix, run = spec["tasks"]
    # the goal's test command is a check of every task: "fix calc.py" is not complete while the
    # tests fail (a real run completed it with calc.py unchanged, its own check only ran calc.py)
    assert fix["checks"] == [{"file": "calc.py"}, {"command": "python3 calc.py"}, {"command": "python3 test_calc.py"}]
    assert run["checks"] == [{"command": "python3 test_calc.py"}]
    assert run["acceptance_criteria"][-1] == "`python3 test_calc.py` succeeds"
    # a command the plan already checks is not added twice; one the goal promises output of keeps it
    spec = spec_from_plan({"goal": "Write count.py that prints the number of lines, then run python3 count.py",
                           "plan": {"tasks": [{"title": "t", "description": "d", "files": ["count.py"],
                                               "command": "python3 count.py", "expect": "7"}]}})
    assert spec["tasks"][0]["checks"] == [{"file": "count.py"}, {"command": "python3 count.py", "expect": "7"}]
    spec = spec_from_plan({"goal": "Create config.json", "plan": {"tasks": [
        {"title": "t", "description": "d", "files": ["config.json"], "command": "", "expect": '"name": "demo"'}]}})
    assert spec["tasks"][0]["checks"] == [{"file": "config.json", "contains": '"name": "demo"'},
                                          {"command": "python3 -m json.tool config.json"}]


def test_files_named_in_a_task_become_checks_when_the_plan_lists_none():
    spec = spec_from_plan({"goal": "g", "plan": {"tasks": [
        {"title": "Create greet.py", "description": "Write src/greet.py and README.md.", "files": [],
         "command": "echo hi", "expect": ""}]}})
    assert spec["tasks"][0]["checks"] == [{"file": "greet.py"}, {"file": "src/greet.py"}, {"file": "README.md"}]


def test_the_ralph_loop_takes_tasks_in_order_and_completes_a_task_only_when_its_checks_pass():
    spec = _spec("a", "b", "c")
    first = spec_next_task({"spec": spec})
    assert first.value["id"] == "task-1" and first.update["spec"]["tasks"][0]["status"] == "in_progress"
    assert first.update["blocked"] is None
    # the worker claims it is done, the check fails: not complete, back to the worker with the output
    claimed = spec_record({"spec": first.update["spec"], "task": first.value,
                           "outcome": {"signal": "complete", "message": "done a"}, "check": FAILED})
    t = claimed["tasks"][0]
    assert t["status"] == "pending" and t["completed_at"] is None and "a.txt does not exist" in t["last_check"]
    assert claimed["learnings"] == ["task-1: claimed complete, but check failed: a.txt exists: a.txt does not exist"]
    again = spec_next_task({"spec": claimed})
    assert again.value["id"] == "task-1" and "does not exist" in again.value["last_check"]
    # no claim at all, but the checks pass: complete, with the evidence
    done = spec_record({"spec": again.update["spec"], "task": again.value, "outcome": "finished", "check": PASSED})
    t = done["tasks"][0]
    assert t["status"] == "complete" and t["completed_at"] and t["verified_by"] == PASSED["results"]
    assert t["attempts"] == 2 and t["last_check"] is None
    second = spec_next_task({"spec": done})
    assert second.value["id"] == "task-2"
    assert all(t["status"] in STATUSES for t in done["tasks"])


def test_a_task_without_checks_cannot_be_completed_by_a_claim():
    spec = spec_from_plan({"goal": "g", "plan": ["just do it"]})
    task = spec_next_task({"spec": spec})
    out = spec_record({"spec": task.update["spec"], "task": task.value,
                       "outcome": {"signal": "complete", "message": "did it"}, "check": {"passed": False, "results": []}})
    assert out["tasks"][0]["status"] == "blocked"
    assert "no checkable acceptance criteria" in out["tasks"][0]["blocked_reason"]


def test_max_iterations_leaves_untried_tasks_pending():
    spec = _spec("a", "b")
    capped = spec_next_task({"spec": spec, "iterations": 8, "max_iterations": 8})
    assert capped.value is None and capped.update["blocked"] is None
    assert [t["status"] for t in capped.update["spec"]["tasks"]] == ["pending", "pending"]
    assert spec_next_task({"spec": spec, "iterations": 7, "max_iterations": 8}).value["id"] == "task-1"


def test_a_blocked_task_stops_the_loop_and_a_human_answer_unblocks_it():
    spec = _spec("a", "b")
    task = spec_next_task({"spec": spec})
    said = {"signal": "blocked", "reason": "no key"}
    # the first `blocked` of a task is tried once more (small models give up at once)
    retried = spec_record({"spec": task.update["spec"], "task": task.value, "outcome": said, "check": FAILED})
    assert retried["tasks"][0]["status"] == "pending"
    assert retried["learnings"][-1].startswith("task-1: said blocked (no key), tried again: check failed: ")
    task = spec_next_task({"spec": retried})
    blocked = spec_record({"spec": task.update["spec"], "task": task.value, "outcome": said, "check": FAILED})
    assert blocked["tasks"][0]["status"] == "blocked" and blocked["tasks"][0]["blocked_reason"] == "no key"
    stop = spec_next_task({"spec": blocked})
    assert stop.value is None and stop.update["blocked"]["id"] == "task-1"
    helped = spec_unblock({"spec": blocked, "answer": "use  the test key"})
    assert helped["tasks"][0]["status"] == "pending" and helped["tasks"][0]["blocked_reason"] is None
    assert helped["learnings"][-1] == "task-1: human: use the test key"
    assert spec_next_task({"spec": helped}).value["id"] == "task-1"
