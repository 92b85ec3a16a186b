# The lineage binary in a small image, run as a non-root user.
# Built and used by deploy/compose/docker-compose.yml and deploy/k8s/
# (docs/deploy.md). The Go version is go.mod's.
#
#   docker build -t lineage-arena/lineage:dev .

FROM golang:1.26.8-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# A static binary: the runtime image has no C library of Debian's.
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/lineage ./cmd/lineage

FROM alpine:3.22.1
# busybox wget serves the health checks (GET /readyz on the metrics port).
RUN addgroup -S -g 65532 lineage \
 && adduser -S -D -H -u 65532 -G lineage lineage \
 && mkdir -p /data \
 && chown lineage:lineage /data \
 && chmod 0700 /data
COPY --from=build /out/lineage /usr/local/bin/lineage
USER 65532:65532
# /data is the volume of `lineage serve --data-dir /data/lineage`; an edge
# keeps no data. 9001: WebSocket, API, dashboard; 9184: metrics and probes.
VOLUME ["/data"]
EXPOSE 9001 9184
ENTRYPOINT ["/usr/local/bin/lineage"]
CMD ["help"]
