// The image, built without a Docker engine: the Dockerfile replayed from the repository's files
// (see replay.ts). What cannot run here — the base image, apt-get, useradd — is named, not faked.
import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { contextFiles, replayDockerfile } from './replay.js';
import { COMMANDS } from 'confd-haproxy';

const root = fileURLToPath(new URL('../../', import.meta.url));
const BINS = COMMANDS;
const version = (JSON.parse(readFileSync(join(root, 'packages/cli/package.json'), 'utf8')) as { version: string }).version;

function scratch(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'confd-haproxy-image-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

t.test('the Dockerfile builds from what the repository holds, and its commands run', async (t) => {
  const out = scratch(t);
  const r = replayDockerfile({ dockerfile: join(root, 'Dockerfile'), context: root, files: contextFiles(root), out });
  t.equal(r.error, undefined, 'every COPY source exists and every build step succeeds');
  t.ok(r.ok);
  if (!r.ok) return;
  const image = r.stages.at(-1)!;
  t.comment(`not run here (no Docker engine): the base images and the final stage's ${image.skipped.length} system step(s): ${image.skipped.map((s) => s.split(/\s+/).slice(0, 2).join(' ')).join('; ')}`);
  t.ok(r.stages.length >= 2, 'multi-stage: the runtime stage carries no build tools or sources');
  t.notOk(existsSync(join(image.rootfs, 'opt/confd-haproxy/node_modules/typescript')), 'no dev dependencies in the image');
  t.notOk(existsSync(join(image.rootfs, 'opt/confd-haproxy/node_modules/confd-haproxy/src')), 'no sources in the image');
  t.match(image.user ?? '', /^[1-9]\d*(:\d+)?$/, 'runs as a numeric non-root user (runAsNonRoot can check it)');

  const path = (image.env.PATH ?? '').split(':').filter((p) => p.startsWith('/'));
  const which = (bin: string) => path.map((p) => join(image.rootfs, p, bin)).find((p) => existsSync(p));
  for (const bin of BINS) {
    const file = which(bin);
    t.ok(file, `${bin} is on the image's PATH`);
    if (!file) continue;
    const v = spawnSync(process.execPath, [file, '--version'], { encoding: 'utf8', timeout: 30_000 });
    t.equal(v.stdout.trim(), version, `${bin} --version runs from the image's files`);
  }

  t.equal(image.cmd?.[0], 'confd-haproxy', 'the default command is the renderer');
  const listen = image.cmd?.[image.cmd.indexOf('--listen') + 1] ?? '';
  t.match(listen, /:9101$/, 'it serves the health endpoints');
  t.match(image.healthcheck ?? '', /127\.0\.0\.1:9101\/healthz/, 'the HEALTHCHECK asks that port');
  t.ok(image.expose.includes('9101'), 'and exposes it');
  t.ok(existsSync(join(image.rootfs, 'etc/confd-haproxy/conf.d/haproxy.toml')) && existsSync(join(image.rootfs, 'etc/confd-haproxy/templates/haproxy.cfg.hbs')), 'the default confdir is in the image');
});

t.test('a COPY source missing from the repository fails the build', async (t) => {
  const out = scratch(t);
  const files = contextFiles(root).filter((f) => !f.startsWith('templates/'));
  const r = replayDockerfile({ dockerfile: join(root, 'Dockerfile'), context: root, files, out });
  t.notOk(r.ok);
  t.match(r.error, /^COPY templates: not found in the build context/);
});

t.test('a build step that needs a file nobody copied fails the build', async (t) => {
  const out = scratch(t);
  const dockerfile = join(out, 'Dockerfile');
  writeFileSync(dockerfile, readFileSync(join(root, 'Dockerfile'), 'utf8').replace(/^COPY scripts \.\/scripts\n/m, '').replace(/^RUN npm ci.*\n/m, ''));
  const r = replayDockerfile({ dockerfile, context: root, files: contextFiles(root), out });
  t.notOk(r.ok);
  t.match(r.error, /^RUN node scripts\/pack\.mjs tarballs > tarballs\.json: exit 1/);
});
