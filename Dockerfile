# One distroless image holding both binaries: /manager (the operator, the
# default entrypoint) and /sql-datasource (run with command: ["/sql-datasource"]).
#   docker build -t privacy-operator:latest .
# Not built by CI: there is no container engine on the CI machines.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY api/ api/
COPY cmd/ cmd/
COPY controllers/ controllers/
COPY internal/ internal/
COPY pkg/ pkg/
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/manager ./cmd/manager && \
    CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/sql-datasource ./cmd/sql-datasource

FROM gcr.io/distroless/static:nonroot
COPY --from=build /out/manager /out/sql-datasource /
USER 65532:65532
ENTRYPOINT ["/manager"]
