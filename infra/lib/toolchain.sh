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

# Node.js and npm build the web app; Debian's packages are enough (Node 18.19 or newer).
ensure_node() {
  if ! command -v npm >/dev/null 2>&1; then
    echo "==> installing Node.js and npm (apt), needed to build the web app"
    as_root apt-get update -qq && DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq nodejs npm >/dev/null
  fi
  if ! node -e 'const [a, b] = process.versions.node.split(".").map(Number); process.exit(a > 18 || (a === 18 && b >= 19) ? 0 : 1)'; then
    echo "error: the web app needs Node.js 18.19 or newer (found $(node --version)); install a newer nodejs package" >&2
    return 1
  fi
}
