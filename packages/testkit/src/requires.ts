// Everything the tests need installed, in one list: each launcher's own, then the tools that tests
// (not launchers) run. scripts/test.mjs installs from it before the services start.
import { ETCD_REQUIRES } from './etcd.js';
import { GALERA_REQUIRES } from './galera.js';
import { HAPROXY_REQUIRES } from './haproxy.js';
import { MARIADB_REQUIRES } from './mariadb.js';
import { MEMCACHED_REQUIRES } from './memcached.js';
import { REDIS_REQUIRES } from './redis.js';
import type { Requirement } from './requirement.js';

/** Run by tests and test support outside the launchers. */
export const TOOL_REQUIRES: readonly Requirement[] = [
  { name: 'socat', path: '/usr/bin/socat', pkg: 'socat' },
  { name: 'saslpasswd2', path: '/usr/sbin/saslpasswd2', pkg: 'sasl2-bin' },
  { name: 'rsync', path: '/usr/bin/rsync', pkg: 'rsync' },
  { name: 'openssl', path: '/usr/bin/openssl', pkg: 'openssl' },
  { name: 'promtool', path: '/usr/bin/promtool', pkg: 'prometheus' },
  { name: 'systemd-analyze', path: '/usr/bin/systemd-analyze', pkg: 'systemd' },
];

/** One entry per path, first declaration kept (Galera runs MariaDB's binaries too). */
function byPath(lists: readonly (readonly Requirement[])[]): Requirement[] {
  const seen = new Map<string, Requirement>();
  for (const r of lists.flat()) if (!seen.has(r.path)) seen.set(r.path, r);
  return [...seen.values()];
}

export const REQUIRES: readonly Requirement[] = byPath([HAPROXY_REQUIRES, MEMCACHED_REQUIRES, MARIADB_REQUIRES, ETCD_REQUIRES, GALERA_REQUIRES, REDIS_REQUIRES, TOOL_REQUIRES]);
