#!/usr/bin/env node
// bench/burst: 100 KV changes within one second to a watching renderer → how many reloads.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createFileStore } from '@confd-haproxy/kv';
import { runWatch } from '@confd-haproxy/renderer';
import { tempDir } from '@confd-haproxy/testkit';
import { sleep, table, until } from './lib.mjs';

const dir = tempDir('bench-burst');
mkdirSync(join(dir, 'conf.d'));
mkdirSync(join(dir, 'templates'));
const log = join(dir, 'reloads');
writeFileSync(join(dir, 'templates/t.hbs'), '{{#each (gets "/haproxy/memcached/*")}}{{Value}}\n{{/each}}');
writeFileSync(join(dir, 'conf.d/t.toml'), `[template]\nsrc = "t.hbs"\ndest = "${join(dir, 'out.cfg')}"\nkeys = ["/haproxy/memcached"]\nreload_cmd = '(date +%s.%N; cat ${join(dir, 'out.cfg')}) | tr "\\n" " " >> ${log}; echo >> ${log}'\n`);
const store = createFileStore({ file: join(dir, 'kv.json') });
const ac = new AbortController();
const quiet = { debug() {}, info() {}, warn() {}, error() {} };
await store.put('haproxy/memcached/m', '0');
const loop = runWatch({ store, confdir: dir, logger: quiet, signal: ac.signal, env: { PATH: process.env.PATH }, wait: { minMs: 200, maxMs: 2000 } });
await until(() => { try { return readFileSync(log, 'utf8').length > 0; } catch { return false; } }, 10_000);
const before = readFileSync(log, 'utf8').split('\n').filter(Boolean).length;
const t0 = Date.now();
for (let i = 1; i <= 100; i++) {
  await store.put('haproxy/memcached/m', String(i));
  await sleep(Math.max(0, t0 + i * 9 - Date.now()));
}
const spread = Date.now() - t0;
await until(() => readFileSync(join(dir, 'out.cfg'), 'utf8').trim() === '100', 10_000);
await sleep(1500);
const reloads = readFileSync(log, 'utf8').split('\n').filter(Boolean).length - before;
ac.abort();
await loop;
await store.close();
rmSync(dir, { recursive: true, force: true });
table(['changes', 'over', 'reloads'], [['100', `${spread} ms`, String(reloads)]]);
console.log(`burst: 100 changes in ${spread} ms gave ${reloads} reload(s) (goal: at most 2 — the first change renders at once, the rest once more)`);
