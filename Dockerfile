# pushgate in a small image: built with the same command CI and the README use, run as a
# non-root user on a distroless base (glibc, CA certificates, nothing else).
#
#   docker build -t pushgate .
#   docker run -p 8086:8086 -p 50051:50051 -v $PWD/pushgate.json:/etc/pushgate/pushgate.json:ro pushgate

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p pushgate-proxy --bin pushgate

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/pushgate /usr/local/bin/pushgate
USER 65532:65532
# 8086: the MPNS HTTP API, /healthz, /readyz, /metrics. 50051: gRPC and grpc.health.v1.
EXPOSE 8086 50051
ENTRYPOINT ["/usr/local/bin/pushgate"]
CMD ["--config", "/etc/pushgate/pushgate.json"]
