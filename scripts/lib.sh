# Shared helpers for scripts/*. Sourced, not executed.

# Makes sure cargo is on PATH, installing a Rust toolchain with rustup when the machine has none.
ensure_cargo() {
  if [ -f "$HOME/.cargo/env" ]; then
    # shellcheck disable=SC1091
    source "$HOME/.cargo/env"
  fi
  if ! command -v cargo >/dev/null 2>&1; then
    echo "cargo not found: installing the Rust toolchain with rustup" >&2
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal --component clippy,rustfmt
    # shellcheck disable=SC1091
    source "$HOME/.cargo/env"
  fi
}

# Creates the test virtual environment in .venv (once) and installs the pinned test requirements
# and the Python SDK (editable).
ensure_test_venv() {
  if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
  fi
  local stamp=.venv/.requirements-stamp
  local want
  want=$(cat tests/requirements.txt tests/constraints.txt sdk/python/pyproject.toml | sha256sum | cut -d' ' -f1)
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -r tests/requirements.txt -c tests/constraints.txt
    # The SDK, editable: tests exercise the working tree's code.
    .venv/bin/python -m pip install --quiet --no-deps -e sdk/python -c tests/constraints.txt
    echo "$want" > "$stamp"
  fi
}

# Makes sure s3s-fs, the small S3-compatible server that cairn-blob's S3 conformance tests run
# against, is installed (once, under ~/.cache/cairn), and exports CAIRN_S3S_FS with its path.
ensure_s3s_fs() {
  local root="$HOME/.cache/cairn/s3s-fs-0.14.1"
  if [ -n "${CAIRN_S3S_FS:-}" ] && [ -x "$CAIRN_S3S_FS" ]; then
    export CAIRN_S3S_FS
    return
  fi
  if [ ! -x "$root/bin/s3s-fs" ]; then
    echo "s3s-fs not found: installing it into $root" >&2
    cargo install s3s-fs --version 0.14.1 --features binary --locked --root "$root"
  fi
  export CAIRN_S3S_FS="$root/bin/s3s-fs"
}

# Makes sure Node.js and npm are installed (Debian's packages when missing) and that web/ has
# its pinned dependencies (npm ci, again whenever package-lock.json changes).
ensure_web_deps() {
  if ! command -v npm >/dev/null 2>&1; then
    echo "npm not found: installing Debian's nodejs and npm" >&2
    apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null
  fi
  local stamp=web/node_modules/.lock-stamp
  local want
  want=$(sha256sum web/package-lock.json | cut -d' ' -f1)
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    (cd web && npm ci --no-audit --no-fund --loglevel=error)
    echo "$want" > "$stamp"
  fi
}

# Builds the web UI into web/dist, which the server embeds when it is compiled.
build_web() {
  ensure_web_deps
  (cd web && npm run --silent build)
}

# Makes sure Debian's Chromium is installed (the browser tests drive it with playwright-core,
# which cannot download a browser here) and exports CHROMIUM with its path.
# Makes sure PostgreSQL's server binaries are installed (Debian's package; the tests start
# throwaway clusters from /usr/lib/postgresql/<version>/bin themselves, never a system service).
ensure_postgres() {
  if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    echo "PostgreSQL not found: installing Debian's package" >&2
    apt-get update -qq && apt-get install -y -qq postgresql >/dev/null
  fi
}

ensure_chromium() {
  if ! command -v chromium >/dev/null 2>&1; then
    echo "chromium not found: installing Debian's package" >&2
    apt-get update -qq && apt-get install -y -qq chromium >/dev/null
  fi
  CHROMIUM=$(command -v chromium)
  export CHROMIUM
}
