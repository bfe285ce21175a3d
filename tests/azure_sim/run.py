"""Run one command against a local Azure started for it.

    python -m tests.azure_sim.run --scenario demo [--param k=v] -- ansible-playbook playbooks/protect_cvm.yml

Starts the server, runs CMD with the server's environment, stops the server, exits with CMD's code.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

from tests.azure_sim.__main__ import common_args, parse_params
from tests.azure_sim.server import SimServer


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--" not in argv:
        raise SystemExit("usage: python -m tests.azure_sim.run [--scenario NAME] [--param k=v] -- CMD ARGS...")
    split = argv.index("--")
    parser = argparse.ArgumentParser(prog="python -m tests.azure_sim.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    common_args(parser)
    args = parser.parse_args(argv[:split])
    command = argv[split + 1:]
    if not command:
        raise SystemExit("no command after --")
    with SimServer(args.scenario, parse_params(args.param), port=args.port, state_dir=args.state_dir) as server:
        try:
            return subprocess.call(command, env={**os.environ, **server.env})
        except FileNotFoundError:
            print(f"command not found: {command[0]}", file=sys.stderr)
            return 127


if __name__ == "__main__":
    sys.exit(main())
