#!/usr/bin/env python3
"""Release a version, or roll back to the previous one: the steps the pipeline runs.

    release.sh  staging IMAGE        # the pipeline (deploy.yml): Render, the env's service
    rollback.sh production
    release.sh  --platform local  --state DIR --version B --workdir TREE --env-file B.env
    release.sh  --platform render --image registry/rag:sha
    rollback.sh --platform local  --state DIR
    rollback.sh --platform render [--deploy-id dep-...]

A release is blue/green: the new version migrates the database (expand-only migrations, see
deploy/README.md), starts beside the one serving, and takes the traffic only once its
``/readyz`` answers 200. When it does not within ``--ready-timeout``, the traffic never leaves the
serving version, the new one is stopped, and the migration it brought is rolled back
(``rag-migrate downgrade`` to the revision recorded before the release): exit 3.

Platforms:

- ``local``: a version is a code tree (``--workdir``, run with ``PYTHONPATH`` set to it) and an
  env file; the traffic goes wherever the state folder's ``upstream`` file points, which
  ``deploy/local_proxy.py`` reads for every connection. This is what the rollback drill runs.
- ``render``: Render's HTTP API (``RENDER_API_KEY``, ``RENDER_SERVICE_ID``, ``RENDER_API_URL``).
  Render itself starts the new instances, runs the pre-deploy migration and switches traffic
  only once the health check passes; this script triggers the deploy of ``--image``, waits for it
  and on failure rolls the service back to the deploy that was live and runs
  ``--downgrade-cmd`` (e.g. a one-off container of the failed image running
  ``rag-migrate downgrade {revision}``). Only checked against a mock of the API here.

Exit codes: 0 released (or rolled back), 1 failed (nothing could be rolled back cleanly),
2 bad usage, 3 the release failed its readiness check and was rolled back.

Standard library only: the pipeline runs it without installing the project.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_ROLLED_BACK = 0, 1, 2, 3
RENDER_DONE_OK = {"live"}
RENDER_DONE_FAILED = {
    "build_failed",
    "update_failed",
    "pre_deploy_failed",
    "canceled",
    "deactivated",
}


class ReleaseError(RuntimeError):
    """A step failed; the message says which and why."""


_STARTED = time.monotonic()


def say(message: str) -> None:
    """One progress line on stderr: the time, seconds since the script started, the message."""
    stamp = time.strftime("%H:%M:%S")
    elapsed = time.monotonic() - _STARTED
    print(f"{stamp} +{elapsed:.1f}s releases: {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------- local platform


@dataclass
class LocalVersion:
    """A version running on this machine."""

    name: str
    workdir: str
    env_file: str
    port: int = 0
    pid: int = 0
    revision_before: str | None = None  # database revision before this version migrated
    migrated: bool = False  # its upgrade ran and moved the schema (so a rollback undoes it)

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(read_env_file(Path(self.env_file)))
        env["PYTHONPATH"] = self.workdir
        return env


def read_env_file(path: Path) -> dict[str, str]:
    """``KEY=value`` lines (``#`` comments, optional ``export``, quotes stripped)."""
    values: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ").strip()
        key, sep, value = line.partition("=")
        if not sep:
            raise ReleaseError(f"{path}: not KEY=value: {raw!r}")
        values[key.strip()] = value.strip().strip("'\"")
    return values


class LocalPlatform:
    """Versions as processes on loopback, traffic switched through the state folder."""

    def __init__(self, state: Path, python: str) -> None:
        self.state = state
        self.python = python
        state.mkdir(parents=True, exist_ok=True)

    # state files
    def _read(self, name: str) -> LocalVersion | None:
        path = self.state / f"{name}.json"
        return LocalVersion(**json.loads(path.read_text())) if path.exists() else None

    def _write(self, name: str, version: LocalVersion | None) -> None:
        path = self.state / f"{name}.json"
        if version is None:
            path.unlink(missing_ok=True)
            return
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(version)))
        tmp.replace(path)

    def route_to(self, version: LocalVersion) -> None:
        """Point the proxy at ``version`` (atomic: a connection sees the old or the new one)."""
        tmp = self.state / "upstream.tmp"
        tmp.write_text(f"127.0.0.1:{version.port}\n")
        tmp.replace(self.state / "upstream")

    @property
    def live(self) -> LocalVersion | None:
        return self._read("live")

    # processes
    def _run_migrate(self, version: LocalVersion, *args: str) -> str:
        done = subprocess.run(
            [self.python, "-m", "api.db.migrate", *args],
            env=version.env(),
            cwd=version.workdir,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if done.returncode != 0:
            raise ReleaseError(f"rag-migrate {' '.join(args)} failed: {done.stderr.strip()[-500:]}")
        return done.stdout

    def upgrade(self, version: LocalVersion) -> tuple[str | None, str | None]:
        """Migrate to ``version``'s head; the revisions before and after (None: empty)."""
        out = self._run_migrate(version, "upgrade", "head")
        moved = re.search(r" from (\S+)(?: \(empty\))? to (\S+)", out)
        if moved:
            before, after = moved.groups()
        else:
            same = re.search(r" already at (\S+)", out)
            if not same:
                raise ReleaseError(f"rag-migrate upgrade said nothing known: {out.strip()!r}")
            before = after = same.group(1)
        return (None if before == "base" else before), (None if after == "base" else after)

    def start(self, version: LocalVersion) -> None:
        version.port = free_port()
        log = (self.state / f"{version.name}.log").open("ab")
        proc = subprocess.Popen(
            [self.python, "-m", "api.cli", "--host", "127.0.0.1", "--port", str(version.port)],
            env=version.env(),
            cwd=version.workdir,
            stdout=log,
            stderr=log,
            start_new_session=True,  # survives this script; stopped by pid later
        )
        version.pid = proc.pid
        log.close()

    def wait_ready(self, version: LocalVersion, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        url = f"http://127.0.0.1:{version.port}/readyz"
        while time.monotonic() < deadline:
            if not pid_alive(version.pid):
                say(f"{version.name} exited before it was ready")
                return False
            with (
                contextlib.suppress(OSError, urllib.error.URLError),
                urllib.request.urlopen(url, timeout=2) as reply,
            ):
                if reply.status == 200:
                    return True
            time.sleep(0.5)
        return False

    def stop(self, version: LocalVersion, timeout_s: float = 60) -> None:
        if not version.pid or not pid_alive(version.pid):
            return
        os.kill(version.pid, signal.SIGTERM)  # graceful: in-flight answers finish
        deadline = time.monotonic() + timeout_s
        while pid_alive(version.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if pid_alive(version.pid):
            os.kill(version.pid, signal.SIGKILL)

    # steps
    def release(self, new: LocalVersion, ready_timeout_s: float) -> int:
        old = self.live
        say(f"releasing {new.name}")
        try:
            new.revision_before, after = self.upgrade(new)
            new.migrated = after != new.revision_before
            say(f"database migrated from {new.revision_before or 'base'} to {after or 'base'}")
            self.start(new)
            say(f"{new.name} started on port {new.port} (pid {new.pid}); waiting for /readyz")
            ready = self.wait_ready(new, ready_timeout_s)
        except ReleaseError as exc:
            say(f"release step failed: {exc}")
            ready = False
        if not ready:
            say(f"{new.name} is not ready: traffic stays on {old.name if old else 'nothing'}")
            return self._undo(new)
        self.route_to(new)
        self._write("previous", old)
        self._write("live", new)
        say(f"traffic on {new.name}")
        if old is not None:
            self.stop(old)
            say(f"{old.name} stopped")
        return EXIT_OK

    def _undo(self, failed: LocalVersion) -> int:
        started = time.monotonic()
        self.stop(failed, timeout_s=10)
        say(f"{failed.name} stopped: the serving version is alone again")
        if (
            not failed.migrated
        ):  # a failed upgrade is one transaction on PostgreSQL: nothing to undo
            say(f"rolled back {failed.name}: it changed no schema")
            return EXIT_ROLLED_BACK
        try:
            self._run_migrate(failed, "downgrade", failed.revision_before or "base")
        except ReleaseError as exc:
            say(f"could not roll the database back: {exc}")
            return EXIT_FAILED
        say(
            f"rolled back {failed.name}: stopped, database back at "
            f"{failed.revision_before or 'base'} ({time.monotonic() - started:.1f} s)"
        )
        return EXIT_ROLLED_BACK

    def rollback(self, ready_timeout_s: float) -> int:
        bad, good = self.live, self._read("previous")
        if bad is None or good is None:
            raise ReleaseError("nothing to roll back to: no previous release recorded")
        say(f"rolling back from {bad.name} to {good.name}")
        if bad.migrated:
            # first: rag-serve migrates at start-up and cannot start on a revision its code does
            # not know; the expand-only migration's removal costs only the new version's feature
            self._run_migrate(bad, "downgrade", bad.revision_before or "base")
            say(f"database back at {bad.revision_before or 'base'}")
        self.start(good)
        if not self.wait_ready(good, ready_timeout_s):
            self.stop(good, timeout_s=10)
            raise ReleaseError(f"{good.name} did not become ready; {bad.name} keeps the traffic")
        self.route_to(good)
        self._write("live", good)
        self._write("previous", None)
        self.stop(bad)
        say(f"traffic on {good.name}; database back at {bad.revision_before or 'base'}")
        return EXIT_OK


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pid_alive(pid: int) -> bool:
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)  # reap it when it is our child
        if waited == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


# --------------------------------------------------------------------------- Render platform


class RenderPlatform:
    """Render's REST API: trigger a deploy, watch it, roll back to the deploy that was live.

    The release leaves a note in ``state`` (the deploy that was live, whether it already rolled
    back) so that the pipeline's ``rollback.sh`` after a failed release does not roll back twice.
    """

    def __init__(
        self, api_url: str, api_key: str, service_id: str, poll_s: float, state: Path
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.api_key = api_key
        self.service_id = service_id
        self.poll_s = poll_s
        self.note = state / f"render-{service_id}.json"

    def _remember(self, **values: object) -> None:
        self.note.parent.mkdir(parents=True, exist_ok=True)
        self.note.write_text(json.dumps(values))

    def _recall(self) -> dict[str, object]:
        return json.loads(self.note.read_text()) if self.note.exists() else {}

    def _call(self, method: str, path: str, body: dict[str, object] | None = None) -> object:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(  # noqa: S310 - the configured API URL
            f"{self.api_url}{path}",
            data=data,
            method=method,
            headers={
                "Authorization": f"Bearer {self.api_key}",
                "Accept": "application/json",
                "Content-Type": "application/json",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as reply:  # noqa: S310
                return json.loads(reply.read() or b"null")
        except urllib.error.HTTPError as exc:
            raise ReleaseError(f"Render API {method} {path}: HTTP {exc.code}") from exc
        except (urllib.error.URLError, OSError) as exc:
            raise ReleaseError(f"Render API {method} {path}: {exc}") from exc

    def live_deploy(self) -> str | None:
        """Id of the deploy serving now (the newest with status ``live``)."""
        rows = self._call("GET", f"/services/{self.service_id}/deploys?limit=20")
        for row in rows if isinstance(rows, list) else []:
            deploy = row.get("deploy", row) if isinstance(row, dict) else {}
            if deploy.get("status") == "live":
                return str(deploy["id"])
        return None

    def wait(self, deploy_id: str, timeout_s: float) -> str:
        deadline = time.monotonic() + timeout_s
        status = "unknown"
        while time.monotonic() < deadline:
            reply = self._call("GET", f"/services/{self.service_id}/deploys/{deploy_id}")
            status = str(reply.get("status", "unknown")) if isinstance(reply, dict) else status
            if status in RENDER_DONE_OK | RENDER_DONE_FAILED:
                return status
            time.sleep(self.poll_s)
        return f"timed out ({status})"

    def release(
        self, image: str, ready_timeout_s: float, downgrade_cmd: str | None, revision: str | None
    ) -> int:
        previous = self.live_deploy()
        say(f"deploying {image} (live deploy: {previous or 'none'})")
        reply = self._call("POST", f"/services/{self.service_id}/deploys", {"imageUrl": image})
        deploy_id = str(reply["id"]) if isinstance(reply, dict) else ""
        self._remember(previous=previous, deploy=deploy_id, rolled_back=False)
        status = self.wait(deploy_id, ready_timeout_s)
        if status in RENDER_DONE_OK:
            say(f"deploy {deploy_id} is live")
            return EXIT_OK
        say(f"deploy {deploy_id} ended {status}: Render kept {previous or 'nothing'} serving")
        code = self._undo(previous, downgrade_cmd, revision)
        self._remember(previous=previous, deploy=deploy_id, rolled_back=code == EXIT_ROLLED_BACK)
        return code

    def _undo(self, previous: str | None, downgrade_cmd: str | None, revision: str | None) -> int:
        if previous:
            # a failed deploy never took traffic; rolling back makes the previous one the
            # service's current deploy again, so a restart does not pick up the failed image
            self._call("POST", f"/services/{self.service_id}/rollback", {"deployId": previous})
        if downgrade_cmd:
            command = downgrade_cmd.replace("{revision}", revision or "base")
            say(f"rolling the database back: {command}")
            done = subprocess.run(shlex.split(command), check=False, timeout=600)
            if done.returncode != 0:
                say("database rollback failed")
                return EXIT_FAILED
        return EXIT_ROLLED_BACK

    def rollback(
        self, deploy_id: str | None, downgrade_cmd: str | None, revision: str | None
    ) -> int:
        note = self._recall()
        if deploy_id is None and note.get("rolled_back"):
            say(f"release {note.get('deploy')} was already rolled back to {note.get('previous')}")
            return EXIT_OK
        target = deploy_id or (str(note["previous"]) if note.get("previous") else None)
        if target is None:
            rows = self._call("GET", f"/services/{self.service_id}/deploys?limit=20")
            lives = [
                r.get("deploy", r)
                for r in (rows if isinstance(rows, list) else [])
                if r.get("deploy", r).get("status") in {"live", "deactivated"}
            ]
            if len(lives) < 2:
                raise ReleaseError("no earlier successful deploy to roll back to")
            target = str(lives[1]["id"])
        say(f"rolling back to deploy {target}")
        reply = self._call("POST", f"/services/{self.service_id}/rollback", {"deployId": target})
        new_id = str(reply.get("id", target)) if isinstance(reply, dict) else target
        status = self.wait(new_id, 600)
        if status not in RENDER_DONE_OK:
            raise ReleaseError(f"rollback deploy {new_id} ended {status}")
        if downgrade_cmd:
            command = downgrade_cmd.replace("{revision}", revision or "base")
            done = subprocess.run(shlex.split(command), check=False, timeout=600)
            if done.returncode != 0:
                raise ReleaseError("database rollback failed")
        self._remember(**{**note, "rolled_back": True})
        return EXIT_OK


# ------------------------------------------------------------------------------------ CLI


def build_parser(action: str) -> argparse.ArgumentParser:
    summary = {
        "release": "Release a version blue/green; roll it back when it fails its readiness check.",
        "rollback": "Put the previous version back in front of the traffic, and its schema.",
    }[action]
    parser = argparse.ArgumentParser(
        prog=f"{action}.sh",
        description=summary,
        epilog="Exit codes: 0 done, 1 failed, 2 bad usage, 3 release failed and rolled back. "
        "See deploy/README.md.",
    )
    parser.add_argument(
        "environment",
        nargs="?",
        choices=["staging", "production"],
        help="the pipeline's form: Render, the service in RENDER_SERVICE_ID (implies "
        "--platform render)",
    )
    if action == "release":
        parser.add_argument("image_ref", nargs="?", metavar="IMAGE", help="with ENVIRONMENT")
    parser.add_argument("--platform", choices=["local", "render"])
    parser.add_argument(
        "--render-state",
        type=Path,
        default=Path(os.environ.get("RUNNER_TEMP", "/tmp")) / "rag-deploy",  # noqa: S108
        help="render: where the release notes the deploy it replaced (default: $RUNNER_TEMP)",
    )
    parser.add_argument("--state", type=Path, help="local: the state folder the proxy reads")
    parser.add_argument("--python", default=sys.executable, help="local: the interpreter")
    parser.add_argument(
        "--ready-timeout",
        type=float,
        default=60.0,
        help="seconds to wait for /readyz (local 60, render 1200)",
    )
    parser.add_argument(
        "--downgrade-cmd",
        default=os.environ.get("DEPLOY_DOWNGRADE_CMD"),
        help="render: command rolling the schema back; {revision} is replaced",
    )
    parser.add_argument(
        "--db-revision",
        default=os.environ.get("DEPLOY_DB_REVISION"),
        help="render: the schema revision the previous version runs on",
    )
    if action == "release":
        parser.add_argument("--version", help="local: a name for the new version")
        parser.add_argument("--workdir", type=Path, help="local: the new version's code tree")
        parser.add_argument("--env-file", type=Path, help="local: its RAG_* settings")
        parser.add_argument("--image", help="render: the image URL to deploy")
    else:
        parser.add_argument("--deploy-id", help="render: the deploy to go back to")
    return parser


def main(argv: list[str] | None = None) -> int:
    args_in = list(sys.argv[1:] if argv is None else argv)
    if not args_in or args_in[0] not in ("release", "rollback"):
        print("usage: releases.py release|rollback [--help]", file=sys.stderr)
        return EXIT_USAGE
    action = args_in.pop(0)
    parser = build_parser(action)
    args = parser.parse_args(args_in)
    if args.environment:
        if args.platform == "local":
            parser.error("ENVIRONMENT is for Render; --platform local takes --state")
        args.platform = "render"
        if action == "release":
            args.image = args.image or args.image_ref
        say(f"{action} in {args.environment}")
    if args.platform is None:
        parser.error("give ENVIRONMENT (staging, production) or --platform")
    if args.platform == "render" and "--ready-timeout" not in args_in:
        args.ready_timeout = 1200.0  # Render pulls the image and waits for its health check
    try:
        if args.platform == "local":
            if args.state is None:
                parser.error("--platform local needs --state")
            platform = LocalPlatform(args.state, args.python)
            if action == "rollback":
                return platform.rollback(args.ready_timeout)
            if not (args.version and args.workdir and args.env_file):
                parser.error("release --platform local needs --version, --workdir, --env-file")
            version = LocalVersion(
                name=args.version,
                workdir=str(args.workdir.resolve()),
                env_file=str(args.env_file.resolve()),
            )
            return platform.release(version, args.ready_timeout)
        missing = [n for n in ("RENDER_API_KEY", "RENDER_SERVICE_ID") if not os.environ.get(n)]
        if missing:
            parser.error(f"--platform render needs {', '.join(missing)} in the environment")
        render = RenderPlatform(
            os.environ.get("RENDER_API_URL", "https://api.render.com/v1"),
            os.environ["RENDER_API_KEY"],
            os.environ["RENDER_SERVICE_ID"],
            float(os.environ.get("RENDER_POLL_S", "10")),
            args.render_state,
        )
        if action == "rollback":
            return render.rollback(args.deploy_id, args.downgrade_cmd, args.db_revision)
        if not args.image:
            parser.error("release --platform render needs --image")
        return render.release(args.image, args.ready_timeout, args.downgrade_cmd, args.db_revision)
    except ReleaseError as exc:
        say(f"error: {exc}")
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
