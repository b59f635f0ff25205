#!/usr/bin/env bash
# deps.sh - install the Debian packages that sensorgate's build, demo and
# tests need.  `tests/deps.sh` installs what is missing (as root, or via
# sudo); `--check-or-install` is what `make run` and `make test` call: it
# is silent when everything is there.
set -euo pipefail

PKGS=(
  build-essential pkg-config clang clang-format libclang-rt-dev
  librdkafka-dev libfyaml-dev libmodbus-dev libmosquitto-dev libgpiod-dev libsqlite3-dev sqlite3
  libevent-dev libsystemd-dev libssl-dev prometheus
  libavro-dev libcurl4-openssl-dev libjansson-dev libmimalloc-dev
  kcat mosquitto mosquitto-clients socat mbpoll openssl
  python3 python3-pytest python3-pymodbus
  default-jre-headless maven gnuplot-nox valgrind docker-compose
  debhelper lintian man-db systemd
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
    missing+=("$p")
  fi
done
# Python modules the python3 on PATH already has need no Debian package.
py_has() { python3 -c "import $1" 2>/dev/null; }
tmp=()
for p in "${missing[@]}"; do
  case "$p" in
    python3-pytest) py_has pytest || tmp+=("$p") ;;
    python3-pymodbus) py_has pymodbus || tmp+=("$p") ;;
    *) tmp+=("$p") ;;
  esac
done
missing=("${tmp[@]}")
# A JDK/Maven from elsewhere (the machine's own) is fine.
if command -v java >/dev/null && command -v mvn >/dev/null; then
  tmp=()
  for p in "${missing[@]}"; do
    [[ "$p" == default-jre-headless || "$p" == maven ]] || tmp+=("$p")
  done
  missing=("${tmp[@]}")
fi

if ((${#missing[@]})); then
  echo "deps: installing ${missing[*]}"
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null || { echo "deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
    SUDO=sudo
  fi
  export DEBIAN_FRONTEND=noninteractive
  # An index that fails to refresh (a mirror mid-sync, a foreign
  # architecture's security list) is not fatal: the install below says
  # clearly if a package really cannot be had.
  $SUDO apt-get update -qq || echo "deps: apt-get update reported errors; trying the install anyway" >&2
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The python3 on PATH may not be Debian's: make sure it has pytest.
if ! python3 -c 'import pytest' 2>/dev/null; then
  echo "deps: installing pytest for $(command -v python3)"
  python3 -m pip install -q pytest || { echo "deps: cannot install pytest" >&2; exit 1; }
fi
if ! python3 -c 'import pymodbus' 2>/dev/null; then
  python3 -m pip install -q 'pymodbus>=3,<4' 2>/dev/null || true
fi
# The Avro tests' independent consumer: confluent-kafka's
# SchemaRegistryClient and AvroDeserializer (fastavro underneath).
if ! python3 -c 'import confluent_kafka.schema_registry.avro, fastavro' 2>/dev/null; then
  echo "deps: installing confluent-kafka[avro] for $(command -v python3)"
  python3 -m pip install -q 'confluent-kafka[avro,schemaregistry]>=2.3' fastavro ||
    { echo "deps: cannot install confluent-kafka[avro]" >&2; exit 1; }
fi
exit 0
