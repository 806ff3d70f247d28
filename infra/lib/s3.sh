# Sourced by e2e/run and the benchmarks: an S3-compatible server for tests. moto's server
# (PyPI) speaks the S3 API with path-style buckets; pure Python, installs in seconds, needs no
# Docker and no download outside the package registries.
#   start_s3 CACHE_DIR   sets s3_endpoint and moto_pid (kill it when done)
start_s3() {
  local venv="$1/moto"
  if [ ! -x "$venv/bin/moto_server" ]; then
    echo "==> installing moto[server] into $venv (pip)"
    if ! python3 -m venv "$venv" 2>/dev/null; then
      echo "==> installing python3-venv (apt)"
      as_root apt-get update -qq
      DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq python3-venv >/dev/null
      python3 -m venv "$venv"
    fi
    "$venv/bin/pip" install -q 'moto[server]>=5,<6'
  fi
  local port deadline=$((SECONDS + 30))
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  "$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$1/moto.log" 2>&1 &
  moto_pid=$!
  s3_endpoint="http://127.0.0.1:$port"
  until curl -sf "$s3_endpoint/moto-api/" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || { echo "error: the S3 server (moto) did not come up in time; see $1/moto.log" >&2; return 1; }
    sleep 0.3
  done
}
