# One image for every keyquorum node: the coordinator and the signer daemons run
# the compiled bundles of `npm run build` (scripts/build.ts: dist/*.mjs, with source
# maps onto the .ts sources shipped beside them), not tsx. docker/entrypoint.sh picks
# the role, inits the node when its data volume is empty, writes its config, and
# starts it.
FROM node:20-slim AS deps
WORKDIR /app
# better-sqlite3 falls back to compiling when no prebuilt binary matches.
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
COPY packages/crypto/package.json packages/crypto/
COPY packages/protocol/package.json packages/protocol/
COPY packages/signer/package.json packages/signer/
COPY packages/coordinator/package.json packages/coordinator/
COPY packages/client/package.json packages/client/
RUN npm ci
# The bundles; their native and lazily loaded packages stay in node_modules (scripts/build.ts EXTERNAL).
COPY tsconfig.base.json tsconfig.json ./
COPY scripts ./scripts
COPY packages ./packages
RUN npm run build

FROM node:20-slim
WORKDIR /app
ENV NODE_ENV=production
COPY --from=deps /app/node_modules ./node_modules
COPY --from=deps /app/dist ./dist
COPY package.json package-lock.json tsconfig.base.json tsconfig.json ./
COPY packages ./packages
COPY docker ./docker
RUN chmod +x docker/entrypoint.sh && mkdir -p /data /keys && chown node:node /data /keys
USER node
VOLUME ["/data"]
ENTRYPOINT ["/app/docker/entrypoint.sh"]
CMD ["coordinator"]
