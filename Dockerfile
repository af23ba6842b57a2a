# syntax=docker/dockerfile:1
#
# Tributary API server image.
#
#   docker build -t tributary .
#   docker run -p 8080:8080 -v tributary-data:/data -e TRIBUTARY_SECRET_KEY="$(openssl rand -base64 32)" tributary
#
# Without DATABASE_URL the server uses SQLite under /data; without TRIBUTARY_SECRET_KEY it creates
# /data/master.key on first start. Keep /data (or the key) backed up: integration secrets cannot be
# decrypted without the master key. See docs/configuration.md.

############################
# Build stage
############################
FROM rust:1-bookworm AS builder

WORKDIR /src
COPY . .

# Cache mounts keep the crates.io registry and the target directory between builds (BuildKit);
# the binary is copied out of the cached target directory because cache mounts are not part of
# the image.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p tributary-api \
 && install -m 0755 target/release/tributary /usr/local/bin/tributary

############################
# Runtime stage
############################
FROM debian:bookworm-slim AS runtime

# ca-certificates: TLS to brokers, exchanges and market-data providers.
# curl: the container health check.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/*

RUN groupadd --system --gid 10001 tributary \
 && useradd --system --uid 10001 --gid tributary --home-dir /data --no-create-home \
      --shell /usr/sbin/nologin tributary \
 && mkdir -p /data \
 && chown tributary:tributary /data \
 && chmod 0750 /data

COPY --from=builder /usr/local/bin/tributary /usr/local/bin/tributary

ENV TRIBUTARY__DATA_DIR=/data \
    TRIBUTARY__SERVER__HOST=0.0.0.0

# Declared after the chown so a fresh named volume inherits the ownership.
VOLUME ["/data"]
WORKDIR /data
USER tributary:tributary

EXPOSE 8080

# Liveness of the process; /readyz additionally checks the database (used by docker-compose.yml).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD curl -fsS -o /dev/null "http://127.0.0.1:${TRIBUTARY__SERVER__PORT:-8080}/healthz" || exit 1

# The server drains in-flight requests for up to server.shutdown_timeout_secs (30 s) after SIGTERM:
# give it that long (docker stop -t 35, or stop_grace_period in compose).
STOPSIGNAL SIGTERM

ENTRYPOINT ["/usr/local/bin/tributary"]
CMD ["serve"]
