"""podman for the image tests: find it (skip, or fail under ``RAG_REQUIRE_SERVICES=1``), run
containers with the project's ``containers.conf``, and clean up after them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.utils.services import require_service

ROOT = Path(__file__).resolve().parents[2]
CONTAINERS_CONF = ROOT / "deploy" / "podman" / "containers.conf"
BUILD_SCRIPT = ROOT / "deploy" / "podman" / "build-image.sh"


def require_podman() -> str:
    """The podman path; skips (fails in CI) when podman or its runtime is missing."""
    missing = [tool for tool in ("podman", "runc", "debootstrap") if not shutil.which(tool)]
    reason = f"{', '.join(missing)} not found: apt-get install podman buildah runc debootstrap"
    require_service(not missing, reason)
    return shutil.which("podman") or "podman"


def podman_env() -> dict[str, str]:
    """The environment podman runs with here: the project's containers.conf."""
    return {
        **os.environ,
        "CONTAINERS_CONF": os.environ.get("CONTAINERS_CONF", str(CONTAINERS_CONF)),
    }


def podman(
    *args: str, check: bool = True, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``podman ARGS``; its output as text."""
    result = subprocess.run(
        ["podman", *args],
        env=podman_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"podman {' '.join(args)} failed ({result.returncode}): {result.stderr}"
        )
    return result


@dataclass
class Container:
    """A container started by a test; removed by :meth:`remove`."""

    name: str

    def inspect(self) -> dict:
        return json.loads(podman("inspect", self.name).stdout)[0]

    def status(self) -> str:
        return self.inspect()["State"]["Status"]

    def exec(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return podman("exec", self.name, *args, check=False, timeout=timeout)

    def logs(self) -> str:
        result = podman("logs", self.name, check=False)
        return result.stdout + result.stderr

    def wait_exit(self, timeout_s: float) -> int | None:
        """The exit code once the container stops, or None when it still runs at the deadline."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            state = self.inspect()["State"]
            if state["Status"] in ("exited", "stopped"):
                return int(state["ExitCode"])
            time.sleep(1)
        return None

    def remove(self) -> None:
        podman("rm", "--force", "--time", "5", self.name, check=False)


def run_container(
    image: str, options: Sequence[str] = (), command: Sequence[str] = ()
) -> Container:
    """``podman run --detach`` of ``image`` under a new name."""
    name = f"rag-test-{uuid.uuid4().hex[:10]}"
    podman("run", "--detach", "--name", name, *options, image, *command)
    return Container(name)
