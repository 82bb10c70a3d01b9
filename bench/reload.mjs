#!/usr/bin/env node
// bench/reload: connections refused or reset across RELOADS master-CLI reloads under a steady load.
import { reloadHaproxy } from '@confd-haproxy/runner';
import { freePort, memcachedVersion, startHAProxy, startMemcached } from '@confd-haproxy/testkit';
import { sleep, table } from './lib.mjs';

const RELOADS = Number(process.env.BENCH_RELOADS ?? 100);
/** One client: '' when memcached answered its version, else what went wrong. */
const request = async (port) => {
  const { answer, failure } = await memcachedVersion(port);
  return failure ?? (answer.startsWith('VERSION') ? '' : 'bad answer');
};
const mem = await startMemcached();
const port = await freePort();
const h = await startHAProxy({ config: '', configText: `global\n    maxconn 512\ndefaults\n    mode tcp\n    timeout connect 2s\n    timeout client 5s\n    timeout server 5s\nlisten m\n    bind 127.0.0.1:${port}\n    server m 127.0.0.1:${mem.port}\n` });
let stop = false;
let sent = 0;
const errors = [];
const load = (async () => {
  while (!stop) {
    const r = await Promise.all(Array.from({ length: 4 }, () => request(port)));
    sent += r.length;
    errors.push(...r.filter(Boolean));
    await sleep(20);
  }
})();
const t0 = Date.now();
let good = 0;
for (let i = 0; i < RELOADS; i++) {
  if ((await reloadHaproxy({ masterSocket: h.masterSocket })).ok) good++;
  await sleep(50);
}
stop = true;
await load;
const secs = (Date.now() - t0) / 1000;
await h.stop();
await mem.stop();
table(['reloads', 'ok', 'connections', 'per second', 'refused/reset/failed'], [[String(RELOADS), String(good), String(sent), (sent / secs).toFixed(0), String(errors.length)]]);
console.log(`reload: ${errors.length} of ${sent} connections failed across ${RELOADS} reloads (goal: 0)`);
