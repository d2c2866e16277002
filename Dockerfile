# syntax=docker/dockerfile:1
# kvcsi's Linux image, for users with a Docker engine (`make docker-image`).
#
# The reference build is `make image`: no Docker engine, tools/image writes the OCI
# image with go-containerregistry, and `make image-check` proves it (docs/image.md).
# This Dockerfile produces the same content: its build stage runs the same Makefile
# target and tool to write the image's root file system (static /bin/kvcsi, the CA
# bundle from the pinned Debian ca-certificates package, /etc/passwd, /etc/group,
# licences, /tmp), and the final stage copies that folder onto an empty image with
# the same user, entrypoint, environment and labels. Digests differ from `make image`
# (another layer writer); files, modes, times, config and labels do not.
#
# Build stage base: the exact Go release go.mod names, on Debian 12 (whose archive
# serves the pinned ca-certificates version). An exact version tag, not a digest: no
# digest of this tag could be verified from public sources when it was written; pin
# one yourself with `docker buildx imagetools inspect golang:1.26.8-bookworm`.
FROM --platform=$BUILDPLATFORM golang:1.26.8-bookworm AS build
ARG TARGETOS TARGETARCH
ARG VERSION=v0.0.0-dev
ARG REVISION=unknown
ARG SOURCE_URL=https://github.com/kvcsi/kvcsi
ARG SOURCE_DATE_EPOCH=0
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY tools/image/go.mod tools/image/go.sum tools/image/
RUN cd tools/image && go mod download
# Package lists for `apt-get download ca-certificates=<pinned>` (the tool checks its sha256).
RUN apt-get update -qq
COPY . .
RUN make image-rootfs IMAGE_PLATFORM=$TARGETOS/$TARGETARCH ROOTFS_OUT=/rootfs \
    VERSION=$VERSION REVISION=$REVISION SOURCE_URL=$SOURCE_URL SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH

FROM scratch
COPY --from=build /rootfs/ /
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
WORKDIR /
# Root, as every manifest in manifest_staging runs it (runAsUser: 0): the provider
# creates its socket in the root-owned host directory /var/run/secrets-store-csi-providers.
# The DaemonSets drop every capability and mount this file system read-only.
USER 0:0
# Same place as the Azure provider's binary (/bin), so DaemonSets that pass only args
# keep working.
ENTRYPOINT ["/bin/kvcsi"]
ARG VERSION=v0.0.0-dev
ARG REVISION=unknown
ARG SOURCE_URL=https://github.com/kvcsi/kvcsi
# RFC 3339 of SOURCE_DATE_EPOCH (make docker-image passes it).
ARG CREATED=1970-01-01T00:00:00Z
LABEL org.opencontainers.image.source=$SOURCE_URL \
      org.opencontainers.image.revision=$REVISION \
      org.opencontainers.image.version=$VERSION \
      org.opencontainers.image.created=$CREATED \
      org.opencontainers.image.title=kvcsi \
      org.opencontainers.image.licenses=Apache-2.0
