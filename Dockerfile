# The thermowatt image: what Render's Docker runtime builds and runs
# (render.yaml), and what compose.yaml runs next to PostgreSQL when you host
# it yourself. Everything comes from official images, so the build needs
# neither Go nor Node.js on the machine that runs it:
#
#   web    node:22      npm ci fetches the dashboard's chart library (uPlot)
#   build  golang:1.26  one static binary (CGO_ENABLED=0: the SQLite driver,
#                       modernc.org/sqlite, is pure Go), the chart library
#                       embedded
#   final  debian:trixie-slim (Debian 13, the stable release), the binary,
#          CA certificates, a non-root user, a health check
#
# Each RUN line is the same command a person would type; docs/deploy-render.md
# lists what was checked outside Docker and what was not.

FROM node:22-slim AS web
WORKDIR /src/web
COPY web/package.json web/package-lock.json ./
# Only uPlot is needed to build; the browser test's playwright-core is a
# devDependency and stays out.
RUN npm ci --omit=dev --no-audit --no-fund

FROM golang:1.26 AS build
# go.mod asks for Go 1.26.8 or newer: the golang:1.26 tag follows the newest
# 1.26 release, and should it ever lag, GOTOOLCHAIN=auto lets the go command
# fetch the release go.mod names instead of failing (the image sets local).
ENV GOTOOLCHAIN=auto CGO_ENABLED=0
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
COPY --from=web /src/web/node_modules/uplot/dist/uPlot.iife.min.js /src/web/node_modules/uplot/dist/uPlot.min.css web/static/vendor/
# timetzdata: backfill --tz resolves zone names without the system's tzdata.
RUN go build -trimpath -tags timetzdata -ldflags='-s -w' -o /out/thermowatt ./cmd/thermowatt

FROM debian:trixie-slim
# A slim Debian rather than an image without a shell: a command given to
# Render (dockerCommand) works whether or not it is run through /bin/sh.
# The service runs as a user that owns /data and nothing else.
RUN useradd --system --uid 10001 --user-group --home-dir /data --no-create-home --shell /usr/sbin/nologin thermowatt \
 && mkdir /data && chown thermowatt:thermowatt /data
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/thermowatt /usr/local/bin/thermowatt
USER thermowatt
WORKDIR /data
# Without DATABASE_URL the embedded SQLite database is /data/thermowatt.db:
# mount a volume there (compose.yaml does) or it goes with the container.
# PORT is the one to listen on; Render sets its own.
ENV DATA_DIR=/data PORT=8080
EXPOSE 8080
# Healthy while the database answers (GET /readyz on PORT, by the binary
# itself: the image has no curl). Render goes by render.yaml's
# healthCheckPath instead; docker compose and plain docker by this.
HEALTHCHECK --interval=30s --timeout=6s --start-period=60s --retries=3 CMD ["thermowatt", "healthcheck"]
CMD ["thermowatt", "serve"]
