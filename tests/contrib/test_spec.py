"""The Rustagent spec.json functions: building a spec from a plan, taking
the next task, recording outcomes."""

from ragc.contrib.spec import STATUSES, spec_from_plan, spec_next_task, spec_record

KEYS = {"name", "description", "branch_name", "created_at", "tasks", "learnings"}
TASK_KEYS = {"id", "title", "description", "acceptance_criteria", "status", "blocked_reason", "completed_at"}


def test_a_structured_plan_becomes_a_spec_in_the_rustagent_format():
    spec = spec_from_plan({"goal": "Add logging", "plan": {"name": "Add Logging!", "tasks": [
        {"title": "Pick a library", "description": "Choose one", "acceptance_criteria": ["chosen"]},
        "Wire it in",
    ]}})
    assert set(spec) == KEYS and spec["name"] == "add-logging" and spec["branch_name"] == "feature/add-logging"
    assert spec["created_at"].endswith("Z") and spec["learnings"] == []
    t1, t2 = spec["tasks"]
    assert set(t1) == TASK_KEYS and t1["id"] == "task-1" and t1["status"] == "pending"
    assert t1["acceptance_criteria"] == ["chosen"]
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


def test_the_ralph_loop_takes_tasks_in_order_and_stops_at_a_blocked_one():
    spec = spec_from_plan({"goal": "g", "plan": ["a", "b", "c"]})
    first = spec_next_task({"spec": spec})
    assert first.value["id"] == "task-1" and first.update["spec"]["tasks"][0]["status"] == "in_progress"
    spec = spec_record({"spec": first.update["spec"], "task": first.value,
                        "outcome": {"signal": "complete", "message": "done a"}})
    assert spec["tasks"][0]["status"] == "complete" and spec["tasks"][0]["completed_at"]
    assert spec["learnings"] == ["task-1: done a"]
    second = spec_next_task({"spec": spec})
    assert second.value["id"] == "task-2"
    again = spec_record({"spec": second.update["spec"], "task": second.value, "outcome": "still working"})
    assert again["tasks"][1]["status"] == "in_progress"  # no signal: taken again next time
    assert spec_next_task({"spec": again}).value["id"] == "task-2"
    blocked = spec_record({"spec": again, "task": second.value, "outcome": {"signal": "blocked", "reason": "no key"}})
    assert blocked["tasks"][1] | {"completed_at": None} == {**blocked["tasks"][1], "status": "blocked",
                                                           "blocked_reason": "no key"}
    assert spec_next_task({"spec": blocked}).value is None  # a blocked task stops the loop
    assert all(t["status"] in STATUSES for t in blocked["tasks"])
