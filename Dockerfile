# The Node fallback as a container: `docker build -t n2store-gateway .`, then
# `docker run -p 3000:3000 -e DATABASE_URL=postgres://... -e N2STORE_API_KEYS=... n2store-gateway`.
# compose.yaml runs two of them with PostgreSQL; render.yaml deploys it on Render.
#
# Three stages: `build` bundles the server (esbuild) with the workspace's development dependencies,
# `deps` installs only what dist/main.js loads at run time, and the final image holds those two and
# nothing else (no compiler, no sources, no tests), running as the unprivileged `node` user.

ARG NODE_VERSION=20.20.2

FROM node:${NODE_VERSION}-bookworm-slim AS base
WORKDIR /app
ENV npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
# npm ci needs every workspace's manifest to read the lockfile, even those it does not install.
COPY package.json package-lock.json ./
COPY generated/package.json generated/
COPY core/package.json core/
COPY scripts/package.json scripts/
COPY testkit/package.json testkit/
COPY server-node/package.json server-node/
COPY server-edge/package.json server-edge/
COPY sdk/package.json sdk/
COPY bench/package.json bench/

FROM base AS build
RUN npm ci --workspace server-node
# The packages' tsconfig.json extend the base; esbuild reads it for the target and module settings.
COPY tsconfig.base.json ./
COPY generated/ generated/
COPY core/ core/
COPY server-node/ server-node/
RUN node server-node/scripts/build.mjs

FROM base AS deps
RUN npm ci --omit=dev --workspace server-node

FROM node:${NODE_VERSION}-bookworm-slim AS runtime
ENV NODE_ENV=production \
    NODE_OPTIONS=--enable-source-maps \
    HOST=0.0.0.0 \
    PORT=3000 \
    DATA_DIR=/data/pglite
WORKDIR /app
COPY --from=deps /app/node_modules node_modules
# What dist/main.js reads at run time: the spec and its Redoc page (generated/), the PGlite template.
COPY generated/ generated/
COPY core/package.json core/
COPY server-node/package.json server-node/
COPY server-node/assets/ server-node/assets/
COPY --from=build /app/server-node/dist/ server-node/dist/
# Embedded PGlite (no DATABASE_URL) keeps its files here; mount a volume to keep them.
RUN mkdir -p /data && chown node:node /data
VOLUME /data
USER node
WORKDIR /app/server-node
EXPOSE 3000
# /health answers 200 while the process serves (`degraded` when the database cannot be reached).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# Node is PID 1 and gets the SIGTERM of `docker stop` itself: it finishes requests in flight and exits 0.
CMD ["node", "dist/main.js"]
