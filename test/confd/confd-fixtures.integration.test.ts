// confd's own integration confdir, the original's templates, the suite and the refused cases, put on
// a real etcd, on the Consul double and in YAML files (confd's file backend) and rendered by `confd-haproxy --onetime`: every dest holds
// the bytes real confd 0.17 wrote from the same data (test/fixtures/confd/<case>/expect/), and every
// resource confd refused is refused here too, naming its file:line:col, with nothing written.
import t from 'tap';
import type { Test } from 'tap';
import { spawn } from 'node:child_process';
import { cpSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startConsulDouble, startEtcd } from '@confd-haproxy/testkit';
// @ts-expect-error: a plain .mjs module shared with the generator
import { CASES, DEST_RE, FIXTURE_ENV, nestedYaml } from '../fixtures/confd/cases.mjs';

const root = fileURLToPath(new URL('../../', import.meta.url));
const bin = join(root, 'packages/cli/bin/confd-haproxy.js');
const fixtures = join(root, 'test/fixtures/confd');

function run(args: string[]): Promise<{ code: number | null; err: string }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [bin, ...args], { env: { PATH: process.env.PATH ?? '', ...(FIXTURE_ENV as Record<string, string>) }, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      done({ code, err });
    });
  });
}

/** The case's confdir in a temp dir, its dests rewritten into out/; the expected file name of each. */
function confdirOf(t: Test, name: string): { dir: string; dests: { dest: string; src: string }[] } {
  const dir = t.testdir({ out: {} });
  cpSync(join(fixtures, name, 'confdir'), dir, { recursive: true });
  const dests: { dest: string; src: string }[] = [];
  for (const f of readdirSync(join(dir, 'conf.d'))) {
    const p = join(dir, 'conf.d', f);
    const toml = readFileSync(p, 'utf8');
    const src = /^src\s*=\s*"([^"]*)"/m.exec(toml)![1]!;
    writeFileSync(p, toml.replace(DEST_RE as RegExp, (_m: string, d: string) => {
      dests.push({ dest: basename(d), src });
      return `dest = "${join(dir, 'out', basename(d))}"`;
    }));
  }
  return { dir, dests };
}

const hasJson = (name: string) => existsSync(join(fixtures, name, 'data.json'));
const data = (name: string) => Object.entries(JSON.parse(readFileSync(join(fixtures, name, 'data.json'), 'utf8')) as Record<string, string>);
const yamlDir = t.testdir({});

const etcd = await startEtcd();
t.teardown(() => etcd.stop());
const consul = await startConsulDouble();
t.teardown(() => consul.close());

const b64 = (s: string) => Buffer.from(s).toString('base64');
async function etcdCall(path: string, body: unknown): Promise<void> {
  const res = await fetch(new URL(path, etcd.endpoint), { method: 'POST', body: JSON.stringify(body), signal: AbortSignal.timeout(10_000) });
  if (!res.ok) throw new Error(`etcd ${path}: ${res.status}`);
}

const STORES = {
  /** confd's etcdv3 keys are the confd keys as they are ("/database/host"); ours read them there. */
  etcd: {
    async load(pairs: [string, string][]) {
      await etcdCall('/v3/kv/deleterange', { key: b64('\0'), range_end: b64('\0') });
      for (const [k, v] of pairs) await etcdCall('/v3/kv/put', { key: b64(k), value: b64(v) });
    },
    flags: (_name: string) => ['--backend', 'etcd', '--node', etcd.endpoint],
  },
  /** Consul's keys have no leading "/" (confd's consul backend strips it, as ours does). */
  consul: {
    async load(pairs: [string, string][]) {
      await fetch(`${consul.url}/v1/kv/?recurse`, { method: 'DELETE' });
      for (const [k, v] of pairs) {
        const res = await fetch(`${consul.url}/v1/kv/${k.replace(/^\/+/, '')}`, { method: 'PUT', body: v });
        if (!res.ok) throw new Error(`consul PUT ${k}: ${res.status}`);
      }
    },
    flags: (_name: string) => ['--backend', 'consul', '--node', consul.address],
  },
  /** confd's file backend: the same keys as nested YAML (a case with data.yaml: that file). */
  yaml: {
    async load(pairs: [string, string][]) {
      writeFileSync(join(yamlDir, 'data.yaml'), (nestedYaml as (d: Record<string, string>) => string)(Object.fromEntries(pairs)));
    },
    flags: (name: string) => ['--backend', 'file', '--file', hasJson(name) ? join(yamlDir, 'data.yaml') : join(fixtures, name, 'data.yaml')],
  },
};

for (const [store, s] of Object.entries(STORES)) {
  for (const name of CASES as string[]) {
    if (!hasJson(name) && store !== 'yaml') continue;
    t.test(`on ${store}, the confd case ${name} renders what confd 0.17 wrote`, async (t) => {
      if (hasJson(name)) await s.load(data(name));
      const { dir, dests } = confdirOf(t, name);
      const r = await run(['--onetime', ...s.flags(name), '--confdir', dir, '--state-dir', join(dir, 'state')]);
      const refused = dests.filter((d) => existsSync(join(fixtures, name, 'expect', `${d.dest}.error`)));
      t.equal(r.code, refused.length ? 65 : 0, r.err);
      for (const { dest, src } of dests) {
        const out = join(dir, 'out', dest);
        if (refused.some((d) => d.dest === dest)) {
          t.notOk(existsSync(out), `${dest}: nothing written, as confd wrote nothing`);
          t.match(r.err, new RegExp(`${src.replace('.', '\\.')}:\\d+:\\d+: `), `${src}: the refusal names file:line:col`);
        } else {
          t.ok(existsSync(out), `${dest} written`);
          if (existsSync(out)) t.ok(readFileSync(out).equals(readFileSync(join(fixtures, name, 'expect', dest))), `${dest}: byte for byte confd's`);
        }
      }
    });
  }
}
