// `confd-haproxy migrate` on confd layouts (test/fixtures/confd/migrate), run in this process: what
// it names, what it renders against a real YAML store, its exit codes; with real confd when one is at hand.
import t from 'tap';
import type { Test } from 'tap';
import { cpSync, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runInProcess } from '@confd-haproxy/testkit';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const { commandMain } = await import('confd-haproxy');
const confdHaproxy = await commandMain('confd-haproxy');
const fixtures = join(root, 'test/fixtures/confd/migrate');
const confdBin = process.env.CONFD_BIN ?? '/tmp/confd';

/** A fixture layout copied into a temp dir, and the store's file beside it. */
function layout(t: Test, name: string): { dir: string; confdir: string; store: string[] } {
  const dir = t.testdir({ tmp: {} });
  cpSync(join(fixtures, name), join(dir, name), { recursive: true });
  cpSync(join(fixtures, 'data.yaml'), join(dir, 'data.yaml'));
  return { dir, confdir: join(dir, name), store: ['--backend', 'file', '--file', join(dir, 'data.yaml')] };
}

/** migrate's own scratch files go under dir/tmp (its TMPDIR while it runs), which must be empty again after. */
async function migrate(dir: string, args: string[]): Promise<{ code: number; out: string; err: string }> {
  const tmp = process.env.TMPDIR;
  process.env.TMPDIR = join(dir, 'tmp');
  try {
    return await runInProcess(confdHaproxy, ['migrate', ...args]);
  } finally {
    if (tmp === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = tmp;
  }
}

interface Row {
  resource: string;
  ready: boolean;
  problems: string[];
  notes: string[];
  template?: { ok: boolean; code?: string; message?: string };
  rendered?: { ok: boolean; bytes?: number; code?: string; message?: string };
  confd?: { identical: boolean; message?: string };
}
const row = (rows: Row[], name: string) => rows.find((r) => r.resource === `conf.d/${name}.toml`)!;

t.test('a layout whose template the Go engine takes, rendered against the YAML store, is ready: exit 0, dest never written', async (t) => {
  const { dir, confdir, store } = layout(t, 'ready');
  const r = await migrate(dir, ['--confdir', confdir, ...store]);
  t.equal(r.code, 0, r.out + r.err);
  t.match(r.out, /^conf\.d\/web\.toml: ready\n {2}src templates\/web\.conf\.tmpl \(Go template\) → dest web\.cfg; keys \/app, \/upstream\n/);
  t.match(r.out, /rendered here: 115 bytes/);
  t.match(r.out, /1 resource: 1 ready, 0 need attention; confd\.toml: 0 settings to change\n$/);
  t.notOk(existsSync(join(confdir, 'web.cfg')), 'dest is not written');
  t.same(readdirSync(join(dir, 'tmp')), [], 'the scratch copy is removed');
});

t.test('a layout that needs attention names each setting and each refused template, and exits 2', async (t) => {
  const { dir, confdir } = layout(t, 'attention');
  const r = await migrate(dir, ['--confdir', confdir]);
  t.equal(r.code, 2, r.out + r.err);
  t.match(r.out, 'confd.toml: srv_domain: not supported');
  t.notMatch(r.out, /confd\.toml: (nodes|interval|backend|log-level|sync-only)/, 'settings read as confd writes them (its spellings, etcdv3) are not listed');
  t.match(r.out, /conf\.d\/literal\.toml: needs attention\n.*\n {2}problem: templates\/literal\.tmpl:3:13: the complex number 1i: not supported here; refused \(TEMPLATE_UNSUPPORTED\)\n/);
  t.match(r.out, /conf\.d\/plain\.toml: needs attention\n.*\n {2}problem: src "plain\.conf" does not end in \.tmpl/);
  t.match(r.out, /conf\.d\/web\.toml: ready\n(.*\n)*? {2}differs: check_cmd and reload_cmd: run by \/bin\/sh/);
  t.match(r.out, /conf\.d\/printf\.toml: ready\n/, 'without a store only parsing is checked');
  t.match(r.out, /4 resources: 2 ready, 2 need attention; confd\.toml: 1 settings? to change\n$/);
});

t.test('with the store, a construct refused at render is named file:line:col; --json for scripts', async (t) => {
  const { dir, confdir, store } = layout(t, 'attention');
  const r = await migrate(dir, ['--confdir', confdir, ...store, '--json']);
  t.equal(r.code, 2, r.err);
  const report = JSON.parse(r.out) as { ready: boolean; settings: { where: string }[]; resources: Row[] };
  t.equal(report.ready, false);
  t.same(report.settings.map((s) => s.where), ['confd.toml: srv_domain']);
  const printf = row(report.resources, 'printf');
  t.equal(printf.ready, false);
  t.equal(printf.rendered?.code, 'TEMPLATE_UNSUPPORTED');
  t.match(printf.rendered?.message, /^printf\.tmpl:2:13: explicit argument indexes/);
  t.same(row(report.resources, 'web').rendered, { ok: true, bytes: 115 });
  t.equal(row(report.resources, 'web').ready, true);
  t.equal(row(report.resources, 'literal').template?.code, 'TEMPLATE_UNSUPPORTED');
  for (const f of ['web.cfg', 'printf.cfg', 'plain.cfg']) t.notOk(existsSync(join(confdir, f)), `${f} is not written`);
});

t.test('unreadable input exits 65 naming the file', async (t) => {
  const dir = t.testdir({ tmp: {}, bad: { 'conf.d': { 'x.toml': '[template\nsrc = "x.tmpl"\n' }, templates: {} }, cfg: { 'confd.toml': 'backend = \n', 'conf.d': {} }, none: {} });
  const bad = await migrate(dir, ['--confdir', join(dir, 'bad')]);
  t.equal(bad.code, 65, bad.out);
  t.match(bad.err, 'conf.d/x.toml: ');
  const cfg = await migrate(dir, ['--confdir', join(dir, 'cfg')]);
  t.equal(cfg.code, 65, cfg.out);
  t.match(cfg.err, `${join(dir, 'cfg', 'confd.toml')}: `);
  const none = await migrate(dir, ['--confdir', join(dir, 'none')]);
  t.equal(none.code, 65, none.out);
  t.match(none.err, `${join(dir, 'none', 'conf.d')}: cannot read the resource directory`);
});

t.test('--confd-bin needs a store to render against: a usage error', async (t) => {
  const { dir, confdir } = layout(t, 'ready');
  const r = await migrate(dir, ['--confdir', confdir, '--confd-bin', confdBin]);
  t.equal(r.code, 64, r.out);
  t.match(r.err, '--confd-bin: give the store too');
});

t.test('with real confd: byte-identical outputs, and where another differs, its first differing line', { skip: existsSync(confdBin) ? false : `no confd binary at ${confdBin} (set CONFD_BIN)` }, async (t) => {
  const { dir, confdir, store } = layout(t, 'attention');
  const r = await migrate(dir, ['--confdir', confdir, ...store, '--confd-bin', confdBin, '--json']);
  t.equal(r.code, 2, r.err);
  const rows = (JSON.parse(r.out) as { resources: Row[] }).resources;
  t.same(row(rows, 'web').confd, { identical: true });
  t.equal(row(rows, 'web').ready, true);
  t.same(row(rows, 'plain').confd, { identical: false, message: 'differs from confd\'s output at line 2: here "data [object Object]" · confd "data <no value>"' });
  t.notOk(row(rows, 'printf').confd, 'what does not render here is not compared');
  t.same(readdirSync(join(dir, 'tmp')), [], 'the scratch copies are removed');
});
