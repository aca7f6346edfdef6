# Trent in a container: `docker build -t trent .` then, for local development,
#   docker run -p 4599:4599 -e TRENT_TRUSTED_NETWORK=true -v trent-data:/var/lib/trent trent
# and for anything else give it TLS (TRENT_TLS_CERT, TRENT_TLS_KEY, files mounted read-only)
# or put a TLS-terminating load balancer in front (packaging/compose/docker-compose.yml).
# Plain HTTP on the container's network address is refused without one or the other.

# Build: the release binary, statically linked to AWS-LC (built from source by aws-lc-sys).
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p trent-server --bin trent \
 && strip target/release/trent \
 && mkdir -p /out/var/lib/trent

# Run: glibc and nothing else (no shell, no package manager), as an unprivileged user.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/trent /usr/local/bin/trent
# The data directory (root key, store, audit trail, credentials), owned by the runtime
# user (nonroot, 65532) so that a new volume is writable by it.
COPY --from=build --chown=65532:65532 /out/var/lib/trent /var/lib/trent
USER 65532:65532
VOLUME ["/var/lib/trent"]
ENV TRENT_DATA_DIR=/var/lib/trent \
    TRENT_LISTEN=0.0.0.0:4599 \
    TRENT_ADMIN_LISTEN=127.0.0.1:4598
# 4599: the KMS API. The admin listener (/metrics, /healthz, /readyz) stays on the
# container's loopback unless TRENT_ADMIN_LISTEN=0.0.0.0:4598 with TRENT_TRUSTED_NETWORK.
EXPOSE 4599
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["/usr/local/bin/trent", "probe", "healthz"]
ENTRYPOINT ["/usr/local/bin/trent"]
CMD ["serve"]
