# gannet's container image: a static binary on an empty base, running as
# the unprivileged user gannet (65532) with file capabilities.
#
#   docker build --build-arg VERSION=$(git describe --always) -t gannet .
#   docker run -d --name gannet --network host \
#     --cap-drop ALL --cap-add NET_ADMIN --cap-add NET_RAW --cap-add BPF \
#     --cap-add PERFMON --cap-add IPC_LOCK --cap-add NET_BIND_SERVICE \
#     -v /etc/gannet:/etc/gannet:ro -v /var/lib/gannet/bpf:/var/lib/gannet/bpf \
#     -v /run/gannet:/run/gannet gannet
#
# Why each capability and what the mounts are: docs/OPERATIONS.md.
#
# The final stage, `image`, takes every file from the stage `rootfs`. The
# tests build exactly that stage from a binary built on the machine, with
# podman build --build-context rootfs=DIR --target image (e2e, no registry
# needed): what they run is this file's final stage.

ARG GO_VERSION=1.26

FROM docker.io/library/golang:${GO_VERSION}-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends libcap2-bin && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-X main.version=${VERSION}" -o /gannet ./cmd/gannet \
	&& scripts/container-rootfs.sh /gannet /rootfs

FROM scratch AS rootfs
COPY --from=build /rootfs/ /

FROM scratch AS image
COPY --from=rootfs / /
# Ownership spelled out: a copy may reset it to root.
COPY --from=rootfs --chown=65532:65532 /run/gannet /run/gannet
COPY --from=rootfs --chown=65532:65532 /var/lib/gannet /var/lib/gannet
USER 65532:65532
ENTRYPOINT ["/usr/sbin/gannet"]
CMD ["run", "--config", "/etc/gannet/gannet.yaml"]
