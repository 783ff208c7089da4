# One image for the four services (and the one-shot seed): Railway builds it for each service,
# docker-compose.yml builds it once. Node 22 LTS; the code also runs on Node >= 20.19 (engines).
# Multi-stage: compile with dev dependencies, run with production ones only, as a non-root user.
FROM node:22-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build

FROM node:22-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
# No pino-pretty here (a dev dependency): LOG_PRETTY=true falls back to JSON (shared/logger.ts).
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
# Served at runtime: the producer's /openapi.json and the ws-server's demo page.
COPY --from=build /app/docs/openapi.yaml ./docs/openapi.yaml
COPY --from=build /app/ws-server/public ./ws-server/public
USER node
# /readyz of whichever service SERVICE names, on its port (healthcheck.ts); the seed has none.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 CMD ["node", "dist/healthcheck.js"]
# Exec form, no npm and no shell in between: node is the process that receives SIGTERM and
# drains (a shell or `npm start` would exit on the signal and leave node to be killed).
# SERVICE=producer|consumer|ws-server|jobs selects the service (start.ts).
CMD ["node", "dist/start.js"]
