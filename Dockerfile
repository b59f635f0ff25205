# Dockerfile - the sensorgate image of the tutorial stack (docker-compose.yml).
#
#   docker build -t sensorgate:local .
#   docker run --rm sensorgate:local version
#
# Stage 1 builds with the Debian -dev packages and the project's own
# Makefile; stage 2 holds only the binary and the runtime libraries.  The
# same image runs the gateway (`run`) and the simulators (`sim modbus`,
# `sim mqtt`).

# ---------------------------------------------------------------- build
FROM debian:bookworm AS build
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      build-essential pkg-config \
      librdkafka-dev libfyaml-dev libmodbus-dev libmosquitto-dev libgpiod-dev \
      libsqlite3-dev libevent-dev libsystemd-dev libssl-dev \
      libavro-dev libcurl4-openssl-dev libjansson-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Makefile ./
COPY gateway/ gateway/
COPY drivers/ drivers/
COPY config/ config/
# The build context has no .git (see .dockerignore): pass the version in,
# e.g. --build-arg SG_VERSION=$(git describe --always --dirty).
ARG SG_VERSION=docker
RUN make -j"$(nproc)" VERSION="$SG_VERSION" \
 && strip build/sensorgate && strip --strip-unneeded build/modules/*.so \
 && build/sensorgate version

# -------------------------------------------------------------- runtime
FROM debian:bookworm-slim
ARG DEBIAN_FRONTEND=noninteractive
# The shared libraries build/sensorgate links against (one package per
# -dev package above), and CA certificates for TLS to Kafka and MQTT.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      librdkafka1 libfyaml0 libmodbus5 libmosquitto1 libgpiod2 libsqlite3-0 \
      libevent-2.1-7 libsystemd0 libssl3 \
      libavro23 libcurl4 libjansson4 \
      ca-certificates \
 && rm -rf /var/lib/apt/lists/*
# A fixed, unprivileged user; the spool directory belongs to it and is a
# volume so events survive a container replacement.
RUN groupadd --system --gid 10001 sensorgate \
 && useradd --system --uid 10001 --gid sensorgate --home-dir /var/lib/sensorgate \
      --shell /usr/sbin/nologin sensorgate \
 && install -d -o sensorgate -g sensorgate -m 0700 /var/lib/sensorgate \
 && install -d -m 0755 /etc/sensorgate
COPY --from=build /src/build/sensorgate /usr/local/bin/sensorgate
# kafka.format avro and the sink's SQLite output (MODULEDIR of PREFIX=/usr/local).
COPY --from=build /src/build/modules/ /usr/local/lib/sensorgate/
COPY config/docker.yaml /etc/sensorgate/docker.yaml
USER sensorgate
WORKDIR /var/lib/sensorgate
VOLUME ["/var/lib/sensorgate"]
# Modbus TCP of `sensorgate sim modbus --port 5020`.
EXPOSE 5020
ENTRYPOINT ["/usr/local/bin/sensorgate"]
CMD ["run", "-c", "/etc/sensorgate/docker.yaml"]
