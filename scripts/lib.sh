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
