"""The weekly workflow runs the backup/restore and rollback drills (actionlint checks its syntax
with every workflow in test_workflows.py; GitHub itself cannot be reached from here)."""

from __future__ import annotations

from pathlib import Path

import yaml

WORKFLOW = Path(__file__).resolve().parents[2] / ".github" / "workflows" / "restore-drill.yml"


def test_the_restore_drill_runs_weekly_on_postgresql():
    workflow = yaml.safe_load(WORKFLOW.read_text())
    on = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as True
    (schedule,) = on["schedule"]
    *_, day, month, weekday = schedule["cron"].split()
    assert (day, month) == ("*", "*")
    assert weekday.isdigit()  # once a week
    assert "workflow_dispatch" in on
    (job,) = workflow["jobs"].values()
    scripts = "\n".join(step.get("run", "") for step in job["steps"])
    assert "tests/deploy/test_backup_drill.py" in scripts
    assert "tests/deploy/test_rollback_drill.py" in scripts
    assert "postgresql" in scripts
    assert job["env"]["RAG_REQUIRE_SERVICES"] == "1"  # a missing PostgreSQL fails, never skips
