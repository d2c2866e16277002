# syntax=docker/dockerfile:1
FROM --platform=$BUILDPLATFORM golang:1.26 AS build
ARG TARGETOS TARGETARCH VERSION=v0.0.0-dev
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY cmd cmd
COPY provider provider
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath \
    -ldflags "-s -w -X github.com/kvcsi/kvcsi/provider/version.BuildVersion=${VERSION}" \
    -o /out/kvcsi ./cmd/kvcsi

# Same place as the Azure provider's image, so existing manifests can keep their command.
FROM gcr.io/distroless/static-debian12:nonroot AS runtime
COPY --from=build /out/kvcsi /bin/kvcsi
# The provider needs root to create its socket in the hostPath providers directory.
USER 0:0
ENTRYPOINT ["/bin/kvcsi"]
