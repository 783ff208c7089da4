# Multi-stage: compile with dev dependencies, run with production ones only, as a non-root user.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
# Served at runtime: the producer's /openapi.json and the ws-server's demo page.
COPY --from=build /app/docs/openapi.yaml ./docs/openapi.yaml
COPY --from=build /app/ws-server/public ./ws-server/public
USER node
# SERVICE=producer|consumer|ws-server|jobs selects the process, as on Railway.
CMD ["node", "dist/start.js"]
