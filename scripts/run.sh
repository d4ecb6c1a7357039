#!/usr/bin/env bash
# Set up and start all of Kabar: web, workers, session host and scheduler (honcho.Procfile).
# Zero configuration: SQLite under instance/, Redis on localhost (started here if it is not
# running and redis-server is installed), keys generated into .env on first start.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

if [ ! -f .env ]; then
  echo "Writing .env with fresh SECRET_KEY, KABAR_RPC_SECRET and WA_ENCRYPTION_KEY (keep this file; it unlocks the sessions)."
  (umask 077 && .venv/bin/python scripts/write_env.py .env)
fi
set -a; . ./.env; set +a

redis_up() { .venv/bin/python -c 'import os, redis; redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"), socket_connect_timeout=2).ping()' 2>/dev/null; }
if ! redis_up; then
  if [ -z "${REDIS_URL:-}" ] && command -v redis-server >/dev/null 2>&1; then
    mkdir -p instance
    echo "Redis is not running; starting a local redis-server on 127.0.0.1:6379 (data in instance/)."
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --dir "$PWD/instance" \
      --logfile "$PWD/instance/redis.log" --appendonly yes
    for _ in $(seq 50); do redis_up && break; sleep 0.1; done
  fi
  if ! redis_up; then
    echo "Kabar needs Redis and cannot reach ${REDIS_URL:-redis://127.0.0.1:6379/0}." >&2
    echo "Install it (Debian/Ubuntu: sudo apt-get install -y redis-server; macOS: brew install redis)," >&2
    echo "start it, or set REDIS_URL in .env to a reachable server; then run this again." >&2
    exit 1
  fi
fi

.venv/bin/flask --app webapp db upgrade
.venv/bin/flask --app webapp sync-sessions
echo "Kabar starts on http://${KABAR_BIND:-127.0.0.1}:${PORT:-5000} (Ctrl-C stops everything)."
export PATH="$PWD/.venv/bin:$PATH"
exec .venv/bin/honcho -f honcho.Procfile start
