#!/usr/bin/env bash
# Set up (if needed) and run the main job on the built-in default data. Extra arguments go to `perception demo`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
exec .venv/bin/perception demo "$@"
