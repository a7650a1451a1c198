#!/usr/bin/env bash
# Provides the PostgreSQL server the store tests run against, on a Debian
# machine where we are root: installs Debian's postgresql package when it is
# missing, makes sure a cluster exists and runs, creates the role kinship
# (password kinship) and the database kinship_test, and lets them connect
# over TCP on 127.0.0.1 with a password. Every step checks before it acts, so
# running it again changes nothing.
#
# The only line on standard output is the URL for KINSHIP_TEST_POSTGRES:
#   export KINSHIP_TEST_POSTGRES="$(bash .ci/postgres.sh)"
# Everything else goes to standard error.
set -euo pipefail
exec 3>&1 1>&2

role=kinship
password=kinship
database=kinship_test
port=5432
url="postgres://$role:$password@127.0.0.1:$port/$database?sslmode=disable"

# detached runs a command that may leave a server behind with every file
# descriptor above 2 closed and its output in a log: a server that inherits
# the pipe of "$(bash .ci/postgres.sh)" (or any pipe of the CI runner) keeps
# it open for its whole life, and whoever reads that pipe waits forever.
log=/tmp/kinship-postgres-setup.log
detached() {
  (
    for fd in /proc/$BASHPID/fd/*; do
      fd=${fd##*/}
      if [ "$fd" -gt 2 ] 2>/dev/null; then eval "exec $fd>&-"; fi
    done
    exec "$@" </dev/null >>"$log" 2>&1
  ) || { echo "failed: $* (log: $log)"; tail -n 20 "$log"; return 1; }
}

if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || ! command -v pg_ctlcluster >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  detached apt-get install -y -qq postgresql
fi

# The newest installed major version (15 on Debian 12).
version=$(ls /usr/lib/postgresql | sort -V | tail -n 1)

# Installing the package creates the cluster "main"; a machine where it was
# dropped gets it back.
if ! pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main"' | grep -q .; then
  detached pg_createcluster "$version" main --port "$port"
fi
conf=/etc/postgresql/$version/main

# Tests connect over TCP with a password. Debian's defaults already listen on
# localhost and accept scram-sha-256 from 127.0.0.1; say so explicitly in
# case a machine's configuration differs.
if [ ! -f "$conf/conf.d/kinship.conf" ]; then
  mkdir -p "$conf/conf.d"
  cat >"$conf/conf.d/kinship.conf" <<EOF
listen_addresses = 'localhost'
port = $port
# Parallel test packages, each with its own pools, and 4 writer processes.
max_connections = 200
EOF
  chown postgres:postgres "$conf/conf.d/kinship.conf"
  restart=1
fi
hba_line="host $database $role 127.0.0.1/32 scram-sha-256"
if ! grep -qxF "$hba_line" "$conf/pg_hba.conf"; then
  # pg_hba.conf is read top to bottom: put the rule first.
  { echo "$hba_line"; cat "$conf/pg_hba.conf"; } >"$conf/pg_hba.conf.new"
  chown postgres:postgres "$conf/pg_hba.conf.new"
  chmod 640 "$conf/pg_hba.conf.new"
  mv "$conf/pg_hba.conf.new" "$conf/pg_hba.conf"
  reload=1
fi

status=$(pg_lsclusters -h | awk -v v="$version" '$1 == v && $2 == "main" {print $4}')
if [ "$status" != online ]; then
  # A stale pid file from a machine that was stopped uncleanly would keep
  # the server from starting.
  pid=/var/lib/postgresql/$version/main/postmaster.pid
  if [ -f "$pid" ] && ! kill -0 "$(head -n 1 "$pid")" 2>/dev/null; then
    rm -f "$pid"
  fi
  detached pg_ctlcluster "$version" main start
elif [ -n "${restart:-}" ]; then
  detached pg_ctlcluster "$version" main restart
elif [ -n "${reload:-}" ]; then
  detached pg_ctlcluster "$version" main reload
fi

for _ in $(seq 1 60); do
  pg_isready -q -h 127.0.0.1 -p "$port" && break
  sleep 0.5
done
pg_isready -h 127.0.0.1 -p "$port"

psql_admin() {
  runuser -u postgres -- psql -p "$port" -v ON_ERROR_STOP=1 -qAtX "$@"
}
if [ "$(psql_admin -c "SELECT 1 FROM pg_roles WHERE rolname = '$role'")" != 1 ]; then
  psql_admin -c "CREATE ROLE $role LOGIN PASSWORD '$password'"
else
  psql_admin -c "ALTER ROLE $role LOGIN PASSWORD '$password'"
fi
if [ "$(psql_admin -c "SELECT 1 FROM pg_database WHERE datname = '$database'")" != 1 ]; then
  psql_admin -c "CREATE DATABASE $database OWNER $role"
fi

# The round trip the tests make.
PGPASSWORD=$password psql "$url" -qAtX -c 'SELECT 1' >/dev/null

echo "$url" >&3
