#!/usr/bin/env python3
"""A tiny TCP reverse proxy for the local release drill: the load balancer's part.

    python deploy/local_proxy.py --port 9000 --state DIR

Each new connection goes to the ``host:port`` written in ``DIR/upstream`` at that moment, which
``deploy/releases.py`` replaces atomically when it switches traffic; connections already open stay
where they are (as on a platform's load balancer). Hand-written because the drill needs nothing
more than this (nginx or haproxy would add a package and a reload step for the same switch).

Exit codes: 0 stopped by SIGTERM/SIGINT, 2 bad usage.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from pathlib import Path

CHUNK = 65536


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


def upstream(state: Path) -> tuple[str, int] | None:
    try:
        host, _, port = (state / "upstream").read_text().strip().rpartition(":")
        return host, int(port)
    except (OSError, ValueError):
        return None


async def serve(port: int, state: Path) -> None:
    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        target = upstream(state)
        if target is None:
            client_w.close()
            return
        try:
            server_r, server_w = await asyncio.open_connection(*target)
        except OSError:
            client_w.close()
            return
        await asyncio.gather(pipe(client_r, server_w), pipe(server_r, client_w))

    server = await asyncio.start_server(handle, "127.0.0.1", port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"local_proxy: listening on 127.0.0.1:{port}", file=sys.stderr, flush=True)
    async with server:
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="local_proxy.py",
        description="Forward 127.0.0.1:PORT to the upstream named in STATE/upstream.",
        epilog="Exit codes: 0 stopped, 2 bad usage.",
    )
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--state", type=Path, required=True)
    args = parser.parse_args(argv)
    asyncio.run(serve(args.port, args.state))
    return 0


if __name__ == "__main__":
    sys.exit(main())
