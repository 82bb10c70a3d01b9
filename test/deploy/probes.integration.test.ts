// The k8s manifests' probe paths, asked of a running watcher (deploy.test.ts checks the rest of deploy/ without running it).
import t from 'tap';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, killAndWait } from '@confd-haproxy/testkit';
import { k8sDocs } from './k8s-docs.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

/** Every liveness and readiness path the manifests under deploy/k8s name. */
const k8sProbePaths = (): string[] =>
  k8sDocs(root)
    .flatMap((d) => d.spec?.template?.spec.containers ?? [])
    .flatMap((c) => [c.livenessProbe?.httpGet?.path, c.readinessProbe?.httpGet?.path])
    .filter((p): p is string => Boolean(p));

t.test('deploy/k8s: the probe paths are the ones the observer serves', async (t) => {
  const paths = new Set(k8sProbePaths());
  t.same([...paths].sort(), ['/livez', '/readyz']);
  const dir = t.testdir({ 'conf.d': { 'x.toml': '[template]\nsrc = "x.hbs"\ndest = "x.out"\nkeys = ["/haproxy/memcached"]\n' }, templates: { 'x.hbs': 'x\n' }, 'kv.json': '{}' });
  const port = await freePort();
  const child = spawn(process.execPath, [join(root, 'packages/cli/bin/confd-haproxy.js'), '--watch', '--backend', 'file', '--file', join(dir, 'kv.json'), '--confdir', dir, '--listen', `127.0.0.1:${port}`, '--state-dir', join(dir, 'state')], { stdio: 'ignore' });
  t.teardown(() => killAndWait(child));
  for (const path of paths) {
    let status = 0;
    for (let i = 0; i < 100 && status === 0; i++) {
      status = await fetch(`http://127.0.0.1:${port}${path}`).then((r) => r.status, () => 0);
      if (status === 0) await new Promise((r) => setTimeout(r, 100));
    }
    t.not(status, 404, `${path} is served (${status})`);
    t.not(status, 0, `${path} answered`);
  }
  // Stopped before t.testdir's own teardown removes the directory it writes into.
  await killAndWait(child);
});

