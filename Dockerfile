# confd-haproxy: the renderer, the checkers and haproxy-reload in one image.
FROM node:20-bookworm-slim
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends haproxy ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /opt/confd-haproxy
COPY package.json package-lock.json tsconfig.json tsconfig.base.json ./
COPY packages ./packages
RUN npm ci --no-audit --no-fund && npm prune --omit=dev --no-audit --no-fund \
 && for b in confd-haproxy checkmysqlslave checkmemcached checkgalera checkredis haproxy-reload; do \
      ln -s /opt/confd-haproxy/packages/cli/dist/$b.js /usr/local/bin/$b; chmod +x packages/cli/dist/$b.js; done
COPY templates /etc/confd-haproxy/templates
COPY deploy/compose/confd/conf.d /etc/confd-haproxy/conf.d
USER root
CMD ["confd-haproxy", "--help"]
