# Dockerfile: two stages on debian:12-slim. "build" compiles ./build/vocero and fetches the
# Swagger UI assets; the runtime image has only the shared libraries, espeak-ng data, curl
# (health check) and the binary, and runs as the unprivileged user "vocero".
#   docker build -t vocero .
#   docker run -p 8000:8000 -e SECRET_KEY=$(openssl rand -hex 32) -v vocero-data:/var/lib/vocero vocero

FROM debian:12-slim AS build
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      build-essential pkg-config ca-certificates nodejs npm \
      libmicrohttpd-dev libjwt-dev libsqlite3-dev libpq-dev libcrypt-dev \
      libcurl4-openssl-dev libsndfile1-dev libsoxr-dev libebur128-dev \
      libespeak-ng-dev libssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# npm assets first so the layer is cached while only the C sources change.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund
COPY Makefile ./
COPY src ./src
COPY docs ./docs
RUN make -j"$(nproc)" \
 && strip --strip-unneeded build/vocero \
 && ./build/vocero --version

FROM debian:12-slim AS runtime
ARG DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libmicrohttpd12 libjwt0 libsqlite3-0 libpq5 libcrypt1 libcurl4 libsndfile1 \
      libsoxr0 libebur128-1 libespeak-ng1 espeak-ng-data libssl3 ca-certificates curl tini \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 vocero \
 && useradd --system --uid 10001 --gid vocero --home-dir /var/lib/vocero --shell /usr/sbin/nologin vocero \
 && mkdir -p /var/lib/vocero/data /var/lib/vocero/outputs /var/lib/vocero/voices /var/lib/vocero/models \
 && chown -R vocero:vocero /var/lib/vocero
COPY --from=build /src/build/vocero /usr/local/bin/vocero
COPY --from=build /src/node_modules/swagger-ui-dist /usr/share/vocero/swagger-ui-dist

ENV VOCERO_ENV=production \
    HOST=0.0.0.0 \
    PORT=8000 \
    DATABASE_URL=sqlite:///var/lib/vocero/data/vocero.db \
    DATA_DIR=/var/lib/vocero/data \
    STORAGE_DIR=/var/lib/vocero/outputs \
    VOICES_DIR=/var/lib/vocero/voices \
    MODELS_DIR=/var/lib/vocero/models \
    SWAGGER_UI_DIR=/usr/share/vocero/swagger-ui-dist \
    LOG_LEVEL=info
# SECRET_KEY must be given at run time (-e SECRET_KEY=... or an env file): production
# refuses to start without one of at least 32 characters.

WORKDIR /var/lib/vocero
VOLUME ["/var/lib/vocero/data", "/var/lib/vocero/outputs", "/var/lib/vocero/voices", "/var/lib/vocero/models"]
USER vocero:vocero
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD curl -fsS -o /dev/null "http://127.0.0.1:${PORT:-8000}/" || exit 1
# tini forwards SIGTERM so the server drains in-flight requests and closes the database.
ENTRYPOINT ["/usr/bin/tini", "--", "/usr/local/bin/vocero"]
CMD ["serve"]
