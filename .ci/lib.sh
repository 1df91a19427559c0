# .ci/lib.sh: sourced by .ci/test and .ci/run; the functions that bring a machine to what the
# test suite needs (PostgreSQL, Mosquitto, chromium, Node and Python packages). Each one
# checks first and changes nothing when the thing is already there; every change it makes
# to the machine is announced with `change`, so a developer sees what was done to theirs.
# Defining functions is all that sourcing this file does.

# The Postgres half of the test suite connects here (same default as the tests).
export TEST_POSTGRES_URL="${TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
PG_WAIT_SECONDS="${PG_WAIT_SECONDS:-60}"
# Debian's chromium; the browser tests launch it (playwright-core never downloads one).
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"

step() { printf '\n==> %s\n' "$*"; }

# Every change to the machine goes through here, so none is silent.
change() { printf '  changing this machine: %s\n' "$*"; }

# Commands that must run as the postgres OS user (peer authentication on the socket).
as_postgres() {
  if [[ "$(id -u)" == 0 ]]; then
    runuser -u postgres -- "$@"
  else
    sudo -u postgres "$@"
  fi
}

# Installs Debian packages; the package lists are refreshed once per run, only when a
# package is actually missing.
APT_UPDATED=""
apt_install() {
  change "apt-get install $*"
  export DEBIAN_FRONTEND=noninteractive
  local sudo=()
  [[ "$(id -u)" == 0 ]] || sudo=(sudo)
  if [[ -z "$APT_UPDATED" ]]; then
    "${sudo[@]}" apt-get update -qq
    APT_UPDATED=1
  fi
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "$@"
}

# PostgreSQL may be absent (fresh image): install it. Debian's package creates and
# starts a "main" cluster; some images forbid starting services during install, so
# the steps below do not rely on that.
install_postgres() {
  apt_install postgresql postgresql-client
}

# Make sure a cluster exists and every cluster is running. pg_ctlcluster would hand
# over to systemd, which containers lack, hence --skip-systemctl-redirect.
start_clusters() {
  if [[ -z "$(pg_lsclusters --no-header 2>/dev/null)" ]]; then
    local version
    version="$(ls /usr/lib/postgresql | sort -V | tail -n 1)"
    change "creating PostgreSQL cluster $version/main on port 5432"
    pg_createcluster "$version" main --port 5432
  fi
  local version name port status rest
  while read -r version name port status rest; do
    if [[ "$status" != online* ]]; then
      change "starting PostgreSQL cluster $version/$name (port $port, was $status)"
      pg_ctlcluster --skip-systemctl-redirect "$version" "$name" start
    fi
  done < <(pg_lsclusters --no-header)
}

# Bounded wait: a cluster that never comes up should fail quickly with a clear message.
wait_for_postgres() {
  local waited=0
  until pg_isready -h 127.0.0.1 -p 5432 -q; do
    if (( waited >= PG_WAIT_SECONDS )); then
      echo "PostgreSQL did not accept connections on 127.0.0.1:5432 within ${PG_WAIT_SECONDS}s" >&2
      pg_lsclusters >&2 || true
      exit 1
    fi
    sleep 1
    waited=$((waited + 1))
  done
}

# A fresh Debian cluster asks for a password over TCP. The tests connect as postgres
# without one, so trust local TCP connections (loopback only) if that does not work yet.
allow_local_trust() {
  if psql "$TEST_POSTGRES_URL" -tAc 'select 1' >/dev/null 2>&1; then
    return
  fi
  local hba
  hba="$(as_postgres psql -tAc 'show hba_file')"
  # The first matching line wins, so the trust lines go on top.
  if ! grep -q '^host all all 127.0.0.1/32 trust' "$hba"; then
    change "adding trust lines for 127.0.0.1/32 and ::1/128 at the top of $hba (passwordless loopback connections)"
    printf '%s\n%s\n' 'host all all 127.0.0.1/32 trust' 'host all all ::1/128 trust' \
      | cat - "$hba" > "$hba.new"
    chown --reference="$hba" "$hba.new"
    chmod --reference="$hba" "$hba.new"
    mv "$hba.new" "$hba"
  fi
  change "reloading the PostgreSQL configuration"
  as_postgres psql -tAc 'select pg_reload_conf()' >/dev/null
  psql "$TEST_POSTGRES_URL" -tAc 'select 1' >/dev/null
}

# Development machines also have a `test` database and a `root` role; create them so
# a freshly installed PostgreSQL looks the same.
create_roles_and_databases() {
  local missing
  missing="$(psql "$TEST_POSTGRES_URL" -tA -v ON_ERROR_STOP=1 -c \
    "SELECT (SELECT count(*) FROM pg_roles WHERE rolname = 'root') = 0,
            (SELECT count(*) FROM pg_database WHERE datname = 'test') = 0")"
  if [[ "$missing" == t\|* ]]; then
    change "creating the PostgreSQL role root"
    psql "$TEST_POSTGRES_URL" -q -v ON_ERROR_STOP=1 -c 'CREATE ROLE root SUPERUSER LOGIN'
  fi
  if [[ "$missing" == *\|t ]]; then
    change "creating the PostgreSQL database test"
    psql "$TEST_POSTGRES_URL" -q -v ON_ERROR_STOP=1 -c 'CREATE DATABASE test'
  fi
}

ensure_postgres() {
  command -v pg_lsclusters >/dev/null 2>&1 || install_postgres
  start_clusters
  wait_for_postgres
  allow_local_trust
  create_roles_and_databases
}

# The device tests need a Mosquitto on 127.0.0.1:1883 (external-broker mode and
# firmware-sim run against it) and the mosquitto_pub client (the documented examples are
# run against the hub's own broker). Install what is missing; start a broker if none
# listens.
mqtt_port_open() {
  (exec 3<>/dev/tcp/127.0.0.1/1883) 2>/dev/null
}

ensure_mosquitto() {
  local missing=()
  command -v mosquitto_pub >/dev/null 2>&1 || missing+=(mosquitto-clients)
  if ! mqtt_port_open && ! command -v mosquitto >/dev/null 2>&1; then
    missing+=(mosquitto)
  fi
  if (( ${#missing[@]} > 0 )); then
    apt_install "${missing[@]}"
  fi
  if ! mqtt_port_open; then
    local conf
    conf="$(mktemp --suffix=.conf)"
    printf 'listener 1883 127.0.0.1\nallow_anonymous true\npersistence false\n' > "$conf"
    chmod 644 "$conf"
    change "starting Mosquitto on 127.0.0.1:1883 (anonymous, loopback only, config $conf)"
    mosquitto -d -c "$conf"
    local waited=0
    until mqtt_port_open; do
      if (( waited >= 20 )); then
        echo "Mosquitto did not listen on 127.0.0.1:1883 within 20s" >&2
        exit 1
      fi
      sleep 1
      waited=$((waited + 1))
    done
  fi
}

# The browser tests drive Debian's chromium; a machine without any font would render
# every letter as a box in the screenshots, so a basic font comes with it then.
ensure_chromium() {
  if [[ ! -x "$CHROMIUM" ]]; then
    local packages=(chromium)
    if ! fc-list 2>/dev/null | grep -q .; then
      packages+=(fonts-dejavu-core)
    fi
    apt_install "${packages[@]}"
  fi
}

# The browser tests' npm packages, exactly as web/package-lock.json pins them. `npm ci`
# runs only when node_modules does not match the lockfile; it never downloads a browser.
ensure_node_packages() {
  if ! command -v npm >/dev/null 2>&1; then
    apt_install nodejs npm
  fi
  local lock=web/package-lock.json installed=web/node_modules/.package-lock.json
  if [[ -f "$installed" ]] && node -e '
      const [a, b] = process.argv.slice(1).map((f) => JSON.parse(require("fs").readFileSync(f)).packages);
      delete a[""];
      const same = Object.keys(a).length === Object.keys(b).length &&
        Object.entries(a).every(([k, v]) => b[k] && b[k].version === v.version && b[k].integrity === v.integrity);
      process.exit(same ? 0 : 1);' "$lock" "$installed"; then
    return
  fi
  change "npm ci in web/ (installs web/node_modules from web/package-lock.json)"
  (cd web && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
}

# Python packages of tests that use them (the schemathesis run of the API), from their
# requirements file, when the file exists. pip is asked only when one is not satisfied.
PYTHON_REQUIREMENTS=(hub/tests/schemathesis/requirements.txt)
ensure_python_packages() {
  local file
  for file in "${PYTHON_REQUIREMENTS[@]}"; do
    [[ -f "$file" ]] || continue
    if python3 - "$file" <<'PY' 2>/dev/null; then
import sys
from importlib.metadata import version, PackageNotFoundError
from packaging.requirements import Requirement
ok = True
for line in open(sys.argv[1]):
    line = line.split("#", 1)[0].strip()
    if not line or line.startswith("-"):
        ok = ok and not line
        continue
    req = Requirement(line)
    try:
        ok = ok and req.specifier.contains(version(req.name), prereleases=True)
    except PackageNotFoundError:
        ok = False
sys.exit(0 if ok else 1)
PY
      continue
    fi
    change "pip install -r $file"
    python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore -r "$file"
  done
  # The tests run the installed commands (schemathesis) by name; under pyenv a new command
  # is on PATH only once its shim exists.
  if command -v pyenv >/dev/null 2>&1; then
    pyenv rehash
  fi
  if [[ -f hub/tests/schemathesis/requirements.txt ]] && ! command -v schemathesis >/dev/null 2>&1; then
    echo "schemathesis was installed but is not on PATH ($(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))'))" >&2
    exit 1
  fi
}

# rustfmt and clippy are separate rustup components a minimal toolchain may lack.
ensure_rust_components() {
  if command -v rustup >/dev/null 2>&1; then
    cargo fmt --version >/dev/null 2>&1 || { change "rustup component add rustfmt"; rustup component add rustfmt; }
    cargo clippy --version >/dev/null 2>&1 || { change "rustup component add clippy"; rustup component add clippy; }
  fi
}

# Command-line tools the documented examples use (the README's curl tour runs in a test).
ensure_tools() {
  local missing=()
  command -v curl >/dev/null 2>&1 || missing+=(curl)
  command -v jq >/dev/null 2>&1 || missing+=(jq)
  if (( ${#missing[@]} > 0 )); then
    apt_install "${missing[@]}"
  fi
}
