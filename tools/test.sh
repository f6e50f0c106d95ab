#!/usr/bin/env bash
# Set up (if needed, with the optional sparse lidar encoder so its tests run) and run the test suite on the CPU.
# Extra arguments go to pytest.
set -uo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh --sparse || exit $?
.venv/bin/python -m pytest -q "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
    echo "error: pytest collected no tests; the suite must not be empty" >&2
    exit 1
fi
exit "$rc"
