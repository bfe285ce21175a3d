#!/usr/bin/env bash
# Integration targets (tests/integration/targets/*) against the bundled local Azure, run with the project's venv.
set -euo pipefail
cd "$(dirname "$0")/.."
targets=$(ls tests/integration/targets 2>/dev/null || true)
if [ -z "$targets" ]; then echo "integration: no targets yet"; exit 0; fi
exec python -m tests.azure_sim.run --scenario demo -- bash tests/integration_targets.sh
