# risk-stream engine image: builds the TypeScript once, then ships the compiled CLI with production
# dependencies only, running as the unprivileged `node` user. `docker run IMAGE` starts the streaming
# engine (`run`); any other command can be given instead, e.g. `simulate --to-kafka --rate 200`.

FROM node:20-bookworm-slim AS build
WORKDIR /app
# Dependencies first, so editing sources does not reinstall them. --ignore-scripts because "prepare"
# (the build) needs the sources, which are copied after.
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY . .
# tfjs-node is optional: its install script downloads the native TensorFlow library. Without it the
# engine falls back to the wasm backend, so a failed download must not fail the image.
RUN npm run build \
  && (npm rebuild @tensorflow/tfjs-node || echo "tfjs-node unavailable: the engine will use the wasm backend") \
  && npm prune --omit=dev --no-audit --no-fund \
  && mkdir -p models

FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    RISK_STREAM_HTTP_HOST=0.0.0.0 \
    RISK_STREAM_HTTP_PORT=9464
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/bin ./bin
COPY --from=build /app/dist/src ./dist/src
COPY --from=build /app/schemas ./schemas
COPY --from=build /app/models ./models
# The Redis Lua scripts, the built-in policy and the analyst page (/ui/) are read from src/ at run
# time (the build does not copy them).
COPY --from=build /app/src/state/lua ./src/state/lua
COPY --from=build /app/src/policy/default.yaml ./src/policy/default.yaml
COPY --from=build /app/src/ui ./src/ui
USER node
EXPOSE 9464
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.RISK_STREAM_HTTP_PORT || '9464') + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "bin/risk-stream.js"]
CMD ["run"]
