# syntax=docker/dockerfile:1
# Build stage: every dependency, then tsc to dist/, then drop the dev dependencies.
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# npm ci applies patches/ to the dependencies it installs (patch-package, the postinstall script).
COPY patches ./patches
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts ./scripts
COPY src ./src
COPY migrations ./migrations
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

# Runtime stage: compiled JavaScript, templates and production dependencies only; no TypeScript,
# no sources, no loader (DESIGN.md "Stack"). Runs as the image's unprivileged `node` user and
# writes only to the data folder (/data: PGlite files and a generated master key when
# DATABASE_URL / GATEHOUSE_MASTER_KEY are not set; nothing with them set).
FROM node:24-bookworm-slim
ENV NODE_ENV=production PORT=3000 GATEHOUSE_DATA_DIR=/data
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY scripts/ensure-built.mjs ./scripts/
COPY bin ./bin
COPY views ./views
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME /data
EXPOSE 3000
# No curl in the slim image: node's fetch answers the probe (/healthz: the process serves).
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s CMD node -e "fetch('http://127.0.0.1:'+process.env.PORT+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
# The CLI in the same image: docker run --rm IMAGE node bin/gatehouse.js migrate
CMD ["node", "dist/src/main.js"]
