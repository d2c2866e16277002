# syntax=docker/dockerfile:1
# Windows image: the binary at the same place as the Linux image (/bin/kvcsi → C:\bin\kvcsi.exe).
ARG OSVERSION=ltsc2022
FROM --platform=$BUILDPLATFORM golang:1.26 AS build
ARG VERSION=v0.0.0-dev
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY cmd cmd
COPY provider provider
RUN CGO_ENABLED=0 GOOS=windows GOARCH=amd64 go build -trimpath \
    -ldflags "-s -w -X github.com/kvcsi/kvcsi/provider/version.BuildVersion=${VERSION}" \
    -o /out/kvcsi.exe ./cmd/kvcsi

FROM mcr.microsoft.com/windows/nanoserver:${OSVERSION}
COPY --from=build /out/kvcsi.exe /bin/kvcsi.exe
# Creating the socket in the host's providers directory needs an administrator.
USER ContainerAdministrator
ENTRYPOINT ["/bin/kvcsi.exe"]
