# Production image: compiled JavaScript, production dependencies only, non-root.
# What goes into the build context: .dockerignore. Checked statically (no Docker
# engine in CI) by test/integration/dockerfile.test.ts.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json ./
RUN npm ci --no-audit --no-fund
COPY src ./src
# The build also copies the reviewer console's assets (src/admin/ui/assets) into dist/.
RUN npm run build

FROM node:20-bookworm-slim
ENV NODE_ENV=production MAIL_GUARD_CONFIG=/etc/mail-guard/mail-guard.yaml
WORKDIR /app
# Production dependencies only. They also serve the compose stack's demo sink
# (deploy/demo-sink/sink.mjs, mounted into this image, imports smtp-server).
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
# The console reads its assets at start: an image without them would not serve it.
RUN test -f dist/admin/ui/assets/console.js && test -f dist/admin/ui/assets/console.css
COPY config/mail-guard.yaml /etc/mail-guard/mail-guard.yaml
# The shipped config keeps its store under ./var (store.path: var/mail-guard),
# and serve writes its pid file there. Mount your own config at $MAIL_GUARD_CONFIG;
# bind smtp.host and admin.host to 0.0.0.0 there and list your mailers in smtp.allowFrom.
RUN mkdir -p /app/var && chown node:node /app/var
# Never root: the node image's unprivileged user (uid 1000). Ports above 1024 need no capability.
USER node
VOLUME ["/app/var"]
EXPOSE 2525 9025
# SIGTERM drains (README "Workers"). Give it more than shutdownGraceSeconds
# (default 30): `docker stop -t 45`, compose stop_grace_period; Docker's default is 10 s.
STOPSIGNAL SIGTERM
# Liveness, so /healthz and never /readyz: /readyz turns 503 while the relay or
# the store is down, and an orchestrator that restarted the guard for that would
# drop every SMTP session and mend nothing; mail-guard answers 451 meanwhile and
# the mailers retry. Readiness (/readyz) is for start-up order and load balancers.
# Plain HTTP first, then HTTPS (admin.tls) without checking the certificate: a
# liveness probe of our own loopback port, not a trust decision.
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD node -e "const p=(m,o)=>new Promise(r=>m.get({host:'127.0.0.1',port:9025,path:'/healthz',...o},s=>r(s.statusCode===200)).on('error',()=>r(false)));p(require('http'),{}).then(ok=>ok||p(require('https'),{rejectUnauthorized:false})).then(ok=>process.exit(ok?0:1))"
ENTRYPOINT ["node", "dist/cli/main.js"]
CMD ["serve"]
