#!/usr/bin/env bash
# Creates tests/openai_sdk/.venv (git-ignored) with the pinned OpenAI SDK of requirements.txt, for
# tests/openai_sdk.rs. Idempotent: the venv keeps a stamp of the requirements' sha256 and the Python
# version, so a second run with nothing changed returns at once.
#   tests/openai_sdk/setup.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
venv=$here/.venv
req=$here/requirements.txt
stamp=$venv/.requirements.stamp
want="$(sha256sum "$req" | cut -d' ' -f1) $(python3 -c 'import sys; print(sys.version.split()[0])')"
if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  exit 0
fi
# A venv from another Python or with other pins: start clean rather than patch it.
rm -rf "$venv"
python3 -m venv "$venv"
# --no-deps: the file pins the whole closure; `pip check` then proves it is complete and consistent.
"$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps -r "$req"
"$venv/bin/pip" check --disable-pip-version-check >/dev/null || { "$venv/bin/pip" check; exit 1; }
"$venv/bin/python" -c 'import openai; print("openai", openai.__version__, "ready in '"$venv"'")' >&2
echo "$want" > "$stamp"
