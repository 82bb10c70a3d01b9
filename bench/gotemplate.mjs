#!/usr/bin/env node
// bench/gotemplate: the original's memcached template rendered by the Go template engine (.tmpl,
// confd's Go template as it is) against the same listens in Handlebars, same data, same run, both in
// this thread (createTemplateEngine, warm: compiled once, then BENCH_RUNS renders each). Both must
// write the same listens. Goal: the Go engine within 2× of the Handlebars engine.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTemplateEngine } from '@confd-haproxy/template/engine';
import { pct, table } from './lib.mjs';
import { memcachedGoTemplate, memcachedHbsTemplate } from './memcached-templates.mjs';

const SIZES = (process.env.BENCH_ENTRIES ?? '1000,10000').split(',').map(Number);
const RUNS = Number(process.env.BENCH_RUNS ?? 10);
const root = fileURLToPath(new URL('..', import.meta.url));
// The original's header, then its listens in each language.
const ORIGINAL = readFileSync(join(root, 'test/fixtures/confd/original/confdir/templates/memcached.conf.tmpl'), 'utf8');
const HEADER = ORIGINAL.slice(0, ORIGINAL.indexOf('{{range'));
const GO = memcachedGoTemplate(HEADER);
const HBS = memcachedHbsTemplate(HEADER);

const dir = mkdtempSync(join(tmpdir(), 'confd-haproxy-bench-gotemplate-'));
writeFileSync(join(dir, 'memcached.conf.tmpl'), GO);
writeFileSync(join(dir, 'memcached.conf.hbs'), HBS);
const engine = createTemplateEngine({ templatesDir: dir, env: {} });
const tag = (i) => `mem${String(i).padStart(5, '0')}`;
const rows = [];
let met = true;
try {
  for (const n of SIZES) {
    const data = Array.from({ length: n }, (_, i) => ({ key: `/haproxy/memcached/${tag(i)}`, value: JSON.stringify({ name: tag(i), host: `10.1.${i >> 8}.${i & 255}`, port: 11211, proxyport: 20000 + i }) }));
    const times = { go: [], hbs: [] };
    let outs = {};
    for (let r = 0; r <= RUNS; r++) {
      for (const [k, src] of [['go', 'memcached.conf.tmpl'], ['hbs', 'memcached.conf.hbs']]) {
        const t0 = performance.now();
        outs[k] = await engine.render(src, data);
        if (r > 0) times[k].push(performance.now() - t0); // run 0 compiles: not counted
      }
    }
    if (outs.go !== outs.hbs) throw new Error(`${n} entries: the two engines wrote different bytes`);
    const go = pct(times.go, 50);
    const hbs = pct(times.hbs, 50);
    const ratio = go / hbs;
    if (ratio > 2) met = false;
    rows.push([String(n), `${(outs.go.length / 1024 / 1024).toFixed(2)} MB`, `${go.toFixed(1)} ms`, `${hbs.toFixed(1)} ms`, `${ratio.toFixed(2)}×`]);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
table(['entries', 'output', 'Go engine p50', 'Handlebars p50', 'ratio'], rows);
console.log(`gotemplate: Go engine within 2× of Handlebars: ${met ? 'met' : 'NOT met'}`);
