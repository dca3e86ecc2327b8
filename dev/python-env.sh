# Sourced, not run: picks the Python environment of Strata's scripts and installs pinned requirements.
#
#   source dev/python-env.sh FILE.txt [FILE.txt ...]
#
# The environment is, in this order:
#   - $PYTHON, when set: that interpreter (the pinned packages are installed into it too);
#   - the active virtual environment ($VIRTUAL_ENV): `.ci/run` creates one from nothing, so that a
#     package missing from the lists fails CI instead of being found on the developer's machine;
#   - otherwise `.venv` at the repository root, created with `python3 -m venv` on first use (Debian and
#     Ubuntu: the python3-venv package, which dev/install-deps.sh installs). The system Python's own
#     packages are never touched and never used.
# Then `pip install -r` each FILE (exact pins; pip leaves satisfied ones alone, about 2 s) and exports
# PYTHON, the interpreter to run.
_strata_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ -z "${PYTHON:-}" ]]; then
  if [[ -n "${VIRTUAL_ENV:-}" ]]; then
    PYTHON="$VIRTUAL_ENV/bin/python"
  else
    if [[ ! -x "$_strata_root/.venv/bin/python" ]]; then
      echo "creating the Python environment $_strata_root/.venv" >&2
      python3 -m venv "$_strata_root/.venv" >&2 || {
        echo "error: python3 -m venv failed: on Debian/Ubuntu install python3-venv (dev/install-deps.sh does)" >&2
        return 1
      }
    fi
    PYTHON="$_strata_root/.venv/bin/python"
  fi
fi
export PYTHON
if (($#)); then
  _strata_reqs=()
  for _strata_f in "$@"; do _strata_reqs+=(-r "$_strata_f"); done
  "$PYTHON" -m pip install --quiet --disable-pip-version-check "${_strata_reqs[@]}" >&2 || {
    echo "error: pip could not install $* into $PYTHON" >&2
    return 1
  }
  unset _strata_reqs _strata_f
fi
unset _strata_root
