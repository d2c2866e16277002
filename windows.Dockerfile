# syntax=docker/dockerfile:1
# Windows image: the binary at the same place as the Linux image (/bin/kvcsi → C:\bin\kvcsi.exe).
# Only Docker builds it: `make image` (no Docker engine) covers linux/amd64 and linux/arm64.
#
#   docker buildx build -f windows.Dockerfile --platform windows/amd64 \
#     --build-arg OSVERSION=ltsc2022 --build-arg VERSION=$(git describe --tags --always) \
#     --build-arg REVISION=$(git rev-parse HEAD) --build-arg CREATED=<RFC 3339 of SOURCE_DATE_EPOCH> .
#
# OSVERSION must match the nodes' Windows Server release (ltsc2019, ltsc2022, ltsc2025).
# Each Nano Server base is pinned by digest (the digests the Kubernetes SIG's
# aws-ebs-csi-driver Dockerfile pins); refresh them with
# `docker buildx imagetools inspect mcr.microsoft.com/windows/nanoserver:<OSVERSION>` when
# Microsoft publishes a monthly update.
ARG OSVERSION=ltsc2022
# Exact Go release; tag only (no verifiable digest found for it, see Dockerfile).
FROM --platform=$BUILDPLATFORM golang:1.26.8-bookworm AS build
ARG VERSION=v0.0.0-dev
ARG CREATED=1970-01-01T00:00:00Z
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY cmd cmd
COPY provider provider
# The Makefile's LDFLAGS and build flags (BuildDate from SOURCE_DATE_EPOCH, not the clock).
RUN CGO_ENABLED=0 GOOS=windows GOARCH=amd64 GOAMD64=v1 go build -trimpath -buildvcs=false \
    -ldflags "-s -w -X github.com/kvcsi/kvcsi/provider/version.BuildVersion=${VERSION} -X github.com/kvcsi/kvcsi/provider/version.BuildDate=${CREATED}" \
    -o /out/kvcsi.exe ./cmd/kvcsi

FROM mcr.microsoft.com/windows/nanoserver:ltsc2019@sha256:ea1b43fa8972684a5a284a6f441f91991fa7545d6912d2aecbf6c5ba60e73155 AS base-ltsc2019
FROM mcr.microsoft.com/windows/nanoserver:ltsc2022@sha256:580b7fa4040be7b47d79c25fb73e3d6da2e68f32b95d9d4dfb70bde33564fc4a AS base-ltsc2022
FROM mcr.microsoft.com/windows/nanoserver:ltsc2025@sha256:252ba371c2f50ae797d81ae9d87405b55119714817fead9f406218b556e3ddeb AS base-ltsc2025

FROM base-${OSVERSION}
COPY --from=build /out/kvcsi.exe /bin/kvcsi.exe
COPY LICENSE /usr/share/doc/kvcsi/LICENSE
# Creating the socket in the host's providers directory needs an administrator; the
# Windows DaemonSets in manifest_staging set no user, so this is the user it runs as.
USER ContainerAdministrator
ENTRYPOINT ["/bin/kvcsi.exe"]
ARG VERSION=v0.0.0-dev
ARG REVISION=unknown
ARG SOURCE_URL=https://github.com/kvcsi/kvcsi
ARG CREATED=1970-01-01T00:00:00Z
LABEL org.opencontainers.image.source=$SOURCE_URL \
      org.opencontainers.image.revision=$REVISION \
      org.opencontainers.image.version=$VERSION \
      org.opencontainers.image.created=$CREATED \
      org.opencontainers.image.title=kvcsi \
      org.opencontainers.image.licenses=Apache-2.0
