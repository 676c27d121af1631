#!/usr/bin/env bash
# Install OpenRTC the way a user does and check what they get.
#
# Builds every distribution of the workspace into a wheelhouse, then, in a fresh virtualenv
# outside the workspace with the package index reachable and no version pins:
#   pip install --find-links WHEELHOUSE openrtc openrtc-router-prefix
# and checks that the installed `openrtc` is this project's (not the index's earlier OpenRTC),
# that `openrtc --help` and `openrtc plugins list` work (the prefix router listed), that a
# user's own unrelated pytest run still starts, and that the plugin template, copied out of the
# repository, installs beside it and passes its own tests.
#
# Usage: tests/packaging/check_wheelhouse.sh [WORKDIR]   (default: a new temporary folder)
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
work="${1:-$(mktemp -d -t openrtc-wheelhouse-XXXXXX)}"
mkdir -p "$work"
wheelhouse="$work/wheelhouse"
venv="$work/venv"
python="${PYTHON:-python3}"

fail() { printf 'wheelhouse check FAILED: %s\n' "$*" >&2; exit 1; }
step() { printf '\n-- %s\n' "$*"; }

expected_version="$(cd "$repo" && "$python" -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')"

step "build every distribution into $wheelhouse"
rm -rf "$wheelhouse"
(cd "$repo" && uv build --all-packages --wheel --quiet -o "$wheelhouse")
ls "$wheelhouse"

step "fresh virtualenv, outside the workspace: pip install openrtc openrtc-router-prefix"
rm -rf "$venv"
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
cd "$work"  # nothing of the repository on sys.path
"$venv/bin/pip" install --quiet --find-links "$wheelhouse" openrtc openrtc-router-prefix

installed="$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("openrtc"))')"
[ "$installed" = "$expected_version" ] \
  || fail "pip installed openrtc $installed, not this project's $expected_version"
echo "openrtc $installed (this project's)"
"$venv/bin/python" -c 'import importlib.metadata as m, sys
eps = [e for e in m.entry_points(group="pytest11") if e.dist and e.dist.name.startswith("openrtc")]
sys.exit(f"a runtime distribution registers a pytest plugin: {eps}" if eps else 0)' \
  || fail "the runtime must not register pytest plugins"

step "openrtc --help"
"$venv/bin/openrtc" --help >"$work/help.txt" || fail "openrtc --help exited $?"
grep -q "start" "$work/help.txt" || fail "openrtc --help does not list 'start'"

step "openrtc plugins list"
"$venv/bin/openrtc" plugins list --json >"$work/plugins.json" || fail "plugins list exited $?"
"$venv/bin/python" - "$work/plugins.json" <<'PY' || fail "plugins list is missing something"
import json, sys
plugins = {p["name"]: p for p in json.load(open(sys.argv[1]))["plugins"]}
wanted = ["openrtc-core", "openrtc-isolation-coroutine", "openrtc-router-metadata",
          "openrtc-router-prefix", "openrtc-overload-guard", "openrtc-session-defaults"]
missing = [name for name in wanted if plugins.get(name, {}).get("status") != "active"]
if missing:
    sys.exit(f"not active: {missing}; listed: {sorted(plugins)}")
print("active:", ", ".join(sorted(plugins)))
PY

step "a user's own pytest run, in an unrelated folder"
"$venv/bin/pip" install --quiet pytest
mkdir -p "$work/user-project"
printf 'def test_user_code():\n    assert 1 + 1 == 2\n' >"$work/user-project/test_user.py"
(cd "$work/user-project" && "$venv/bin/python" -m pytest -q -p no:cacheprovider) \
  || fail "a user's pytest run fails once openrtc is installed"

step "the plugin template, copied out of the repository"
rm -rf "$work/my-plugin"
cp -r "$repo/contrib/openrtc-plugin-template" "$work/my-plugin"
"$venv/bin/pip" install --quiet --find-links "$wheelhouse" "$work/my-plugin" openrtc-testing
(cd "$work/my-plugin" && "$venv/bin/python" -m pytest -q -p no:cacheprovider tests) \
  || fail "the copied plugin template's own tests fail"

printf '\nwheelhouse check passed: openrtc %s from %s\n' "$installed" "$wheelhouse"
