# One image for every keyquorum node: the coordinator and the signer daemons run
# their TypeScript sources through tsx. docker/entrypoint.sh picks the role, inits
# the node when its data volume is empty, writes its config, and starts it.
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

FROM node:20-slim
WORKDIR /app
ENV NODE_ENV=production
COPY --from=deps /app/node_modules ./node_modules
COPY package.json package-lock.json tsconfig.base.json tsconfig.json ./
COPY packages ./packages
COPY docker ./docker
RUN chmod +x docker/entrypoint.sh && mkdir -p /data /keys && chown node:node /data /keys
USER node
VOLUME ["/data"]
ENTRYPOINT ["/app/docker/entrypoint.sh"]
CMD ["coordinator"]
