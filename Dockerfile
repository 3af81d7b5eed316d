# syntax=docker/dockerfile:1
#
# IronLB's image: one static binary, /ironlb, whose subcommands are the controller and the
# speaker (see deploy/ and charts/ironlb/). Built without the `lab` feature: the image carries no
# lab code (FRR orchestration, namespaces).
#
#   docker build -t ghcr.io/ironlb/ironlb:0.1.0 .
#
# Built for x86_64 with musl, so the binary needs no libc from the image; the final image has
# no shell and runs as the unprivileged user 65532 ("nonroot").

FROM rust:1-bookworm AS build
# musl-gcc: crates with C code (ring, under rustls) are compiled for musl with it.
RUN apt-get update \
 && apt-get install -y --no-install-recommends musl-tools \
 && rm -rf /var/lib/apt/lists/*
RUN rustup target add x86_64-unknown-linux-musl
ENV CC_x86_64_unknown_linux_musl=musl-gcc \
    CARGO_TERM_COLOR=never
WORKDIR /src
COPY . .
# The registry and target caches persist between builds (BuildKit); the binary is copied out
# of the target cache because cache mounts are not part of the image.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p ironlb --no-default-features --target x86_64-unknown-linux-musl \
 && cp target/x86_64-unknown-linux-musl/release/ironlb /ironlb
# The release profile keeps line tables (file:line in backtraces), three quarters of the
# binary's size and none of its resident memory (debug sections are not loaded). The image
# gets the binary without them, symbols kept (backtraces still name every function); the
# debug info goes to /ironlb.debug, linked by build ID and debuglink, which the `debug-info`
# target exports: docker build --target debug-info --output type=local,dest=out .
RUN objcopy --only-keep-debug /ironlb /ironlb.debug \
 && objcopy --strip-debug --add-gnu-debuglink=/ironlb.debug /ironlb

FROM scratch AS debug-info
COPY --from=build /ironlb.debug /ironlb.debug

# distroless/static: CA certificates, /etc/passwd with nonroot, tzdata; nothing else.
FROM gcr.io/distroless/static:nonroot
LABEL org.opencontainers.image.title="ironlb" \
      org.opencontainers.image.description="LoadBalancer Services for bare-metal Kubernetes over BGP: a drop-in replacement for MetalLB" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /ironlb /ironlb
USER 65532:65532
ENTRYPOINT ["/ironlb"]
