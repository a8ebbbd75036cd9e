#!/usr/bin/env bash
# Sets up .venv if needed, then runs the linter and the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost
.venv/bin/ruff check bot knowledge_base ingest tests benchmarks
.venv/bin/python -m pytest -q "$@"
