# confd-haproxy: the renderer, the checkers and haproxy-reload in one image.
#   docker build -t ghcr.io/confd-haproxy/confd-haproxy:0.1.0 .
# The tag is the version of packages/cli/package.json; docker-compose.yml and deploy/k8s use it.

# Build: compile the workspace, pack the one tarball (every command bundled with its libraries) and
# install it as `npm install -g ./confd-haproxy-<version>.tgz` would: from that file alone.
FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json tsconfig.json tsconfig.base.json LICENSE ./
COPY scripts ./scripts
COPY packages ./packages
COPY conf.d ./conf.d
COPY templates ./templates
COPY deploy/systemd ./deploy/systemd
RUN npm ci --no-audit --no-fund
RUN node scripts/pack.mjs tarballs > tarballs.json
RUN mkdir install && cd install \
 && echo '{"name":"confd-haproxy-image","private":true}' > package.json \
 && npm install --omit=dev --offline --no-audit --no-fund ../tarballs/confd-haproxy-*.tgz \
 && mkdir bin \
 && for b in $(node -p "Object.keys(require('./node_modules/confd-haproxy/package.json').bin).join(' ')"); do \
      ln -s ../node_modules/confd-haproxy/bin/$b.js bin/$b; done

# Runtime: Node, HAProxy (for check_cmd), the installed packages, an unprivileged user.
FROM node:20-bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends haproxy ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 confd-haproxy \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/confd-haproxy --create-home --shell /usr/sbin/nologin confd-haproxy
COPY --from=build /src/install /opt/confd-haproxy
COPY --from=build /src/install/node_modules/confd-haproxy/share/templates /etc/confd-haproxy/templates
# In a container HAProxy runs beside the renderer: dest and sockets are on shared volumes.
COPY deploy/compose/confd/conf.d /etc/confd-haproxy/conf.d
ENV PATH=/opt/confd-haproxy/bin:$PATH
USER 10001:10001
# Every command serves /livez, /healthz, /readyz and /metrics on --listen; the default command
# listens on 9101, and the health check asks it.
EXPOSE 9101
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:9101/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["confd-haproxy", "--watch", "--confdir", "/etc/confd-haproxy", "--state-dir", "/var/lib/confd-haproxy", "--listen", "0.0.0.0:9101"]
