#!/usr/bin/env bash
# Makes sure PostgreSQL's server binaries (initdb, pg_ctl) are installed, for the store tests
# and benchmarks, which start throwaway clusters of their own.
# Installs Debian's `postgresql` package when initdb is found neither on PATH nor under
# /usr/lib/postgresql/<version>/bin. Idempotent and quiet: prints nothing when all is there.
set -euo pipefail

have_initdb() {
    command -v initdb >/dev/null 2>&1 && return 0
    compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null
}

if have_initdb; then
    exit 0
fi

as_root=()
if [ "$(id -u)" -ne 0 ]; then
    as_root=(sudo -n)
fi

# The tests make their own clusters: keep the package from creating and starting a system one.
if [ ! -e /etc/postgresql-common/createcluster.conf ]; then
    "${as_root[@]}" mkdir -p /etc/postgresql-common
    echo 'create_main_cluster = false' | "${as_root[@]}" tee /etc/postgresql-common/createcluster.conf >/dev/null
fi

export DEBIAN_FRONTEND=noninteractive
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! { "${as_root[@]}" apt-get update -qq &&
       "${as_root[@]}" apt-get install -y -qq --no-install-recommends postgresql; } >"$log" 2>&1; then
    echo "ensure-postgres: installing postgresql failed:" >&2
    tail -n 30 "$log" >&2
    exit 1
fi

if ! have_initdb; then
    echo "ensure-postgres: postgresql installed, but initdb is still not found" >&2
    exit 1
fi
