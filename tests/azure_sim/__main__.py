"""Serve the local Azure until SIGTERM/SIGINT.

    python -m tests.azure_sim --scenario demo [--port N] [--param k=v ...] [--state-dir DIR] --env-file .sim/env
    . .sim/env    # HTTPS_PROXY, REQUESTS_CA_BUNDLE, AZURE_SUBSCRIPTION_ID, AZURE_CLIENT_ID, AZURE_SECRET, AZURE_TENANT
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import sys
import threading

from tests.azure_sim.server import SimServer


def parse_params(pairs: list[str]) -> dict:
    params = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"--param wants k=v, got {pair!r}")
        params[key.strip()] = value
    return params


def common_args(parser: argparse.ArgumentParser):
    parser.add_argument("--scenario", default="demo", help="a name under tests/azure_sim/scenarios/ or a .yml path")
    parser.add_argument("--param", action="append", default=[], metavar="K=V",
                        help="a config key (lro_seconds=1) or a key of the scenario's fleet block (vms=500); repeatable")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: any free one)")
    parser.add_argument("--state-dir", default=None, help="where the CA lives (default: .sim/ in the repository)")


def env_lines(env: dict) -> str:
    return "".join(f"export {key}={shlex.quote(value)}\n" for key, value in env.items())


def write_env_file(path: str, env: dict):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # it holds a (test) secret
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(env_lines(env))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.azure_sim", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", nargs="?", choices=["serve"], default="serve", help=argparse.SUPPRESS)
    common_args(parser)
    parser.add_argument("--env-file", default=None, help="write the `export` lines to this file")
    args = parser.parse_args(argv)

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    server = SimServer(args.scenario, parse_params(args.param), port=args.port, state_dir=args.state_dir).start()
    try:
        if args.env_file:
            write_env_file(args.env_file, server.env)
        print(f"# local Azure ({server.scenario.get('name', args.scenario)}) on 127.0.0.1:{server.port}; "
              f"admin API {server.admin_url}/", flush=True)
        print(env_lines(server.env), end="", flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
