# Sourced by infra/quickstart and e2e/run: makes sure a C compiler and Rust are there,
# installing them on a fresh Debian machine (build-essential from apt, Rust with rustup).
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

ensure_toolchain() {
  if ! command -v cc >/dev/null 2>&1; then
    echo "==> installing a C compiler (build-essential), needed by some crates"
    as_root apt-get update -qq && as_root apt-get install -y -qq build-essential curl >/dev/null
  fi
  if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
  fi
  if ! command -v cargo >/dev/null 2>&1; then
    echo "==> installing Rust with rustup (into ~/.cargo)"
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal --component clippy,rustfmt
    export PATH="$HOME/.cargo/bin:$PATH"
  fi
}
