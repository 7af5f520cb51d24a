#!/usr/bin/env bash
# Installs what the tests need (a virtualenv in .venv, Python packages, Debian's chromium for the
# browser test) and runs the whole test suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -r requirements-dev.txt
# Debian's chromium (Playwright's own browser download does not work offline) and a CJK font.
if [ "${TREND_SKIP_BROWSER:-0}" != "1" ] && { [ ! -x /usr/bin/chromium ] || ! fc-list 2>/dev/null | grep -qi wenquanyi; }; then
  SUDO=""; [ "$(id -u)" = "0" ] || SUDO="sudo"
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq chromium fonts-wqy-microhei >/dev/null
fi
exec .venv/bin/python -m pytest -q "$@"
