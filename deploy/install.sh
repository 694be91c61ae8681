#!/usr/bin/env bash
# Install a built utilibot wheel into a fresh virtual environment: the one install procedure that
# the container image (deploy/Dockerfile) runs and CI's wheel smoke test (.ci/wheel-smoke) proves.
#
#   deploy/install.sh WHEEL VENV [EXTRAS]      e.g. deploy/install.sh dist/utilibot-0.1.0-py3-none-any.whl /opt/utilibot/venv sentry
set -euo pipefail
if [ $# -lt 2 ]; then
    echo "usage: $0 WHEEL VENV [EXTRAS]" >&2
    exit 2
fi
wheel=$(realpath "$1")
venv=$2
extras=${3:-}
python=${PYTHON:-python3}
"$python" -m venv "$venv"
"$venv/bin/pip" install --quiet --upgrade pip
if [ -n "$extras" ]; then
    "$venv/bin/pip" install --quiet "utilibot[$extras] @ file://$wheel"
else
    "$venv/bin/pip" install --quiet "$wheel"
fi
"$venv/bin/utilibot" --version
