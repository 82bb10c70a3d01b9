#!/usr/bin/env node
// `npm run quickstart:services`: the checkers' KV entries and Consul services in one haproxy.cfg,
// with nothing installed: the Consul double stands in for an agent, loaded with
// examples/quickstart/kv.json and the agent services of examples/quickstart-services/services.json.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startConsulDouble } from '../packages/testkit/dist/consul-double/index.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
process.chdir(root);
mkdirSync('out', { recursive: true });
const run = (cmd, args) =>
  new Promise((done) => {
    const p = spawn(cmd, args, { stdio: 'inherit' });
    p.on('close', (code) => done(code ?? 1));
  });

const consul = await startConsulDouble({ recordRequests: false });
let status = 1;
try {
  const put = async (path, body) => {
    const res = await fetch(`${consul.url}/v1${path}`, { method: 'PUT', body });
    if (!res.ok) throw new Error(`PUT ${path}: ${res.status} ${await res.text()}`);
  };
  for (const [key, value] of Object.entries(JSON.parse(readFileSync('examples/quickstart/kv.json', 'utf8')))) await put(`/kv/${key}`, value);
  for (const svc of JSON.parse(readFileSync('examples/quickstart-services/services.json', 'utf8'))) await put('/agent/service/register', JSON.stringify(svc));
  const bin = join(root, 'packages/cli/bin/confd-haproxy.js');
  const args = ['--onetime', '--backend', 'consul', '--node', consul.address, '--confdir', 'examples/quickstart-services', '--state-dir', 'out/state', '--log-level', 'info'];
  console.log(`$ confd-haproxy ${args.join(' ')}`);
  status = await run(process.execPath, [bin, ...args]);
  if (status === 0) {
    console.log('\n--- out/haproxy-services.cfg ---');
    process.stdout.write(readFileSync('out/haproxy-services.cfg', 'utf8'));
    if (existsSync('/usr/sbin/haproxy')) status = await run('/usr/sbin/haproxy', ['-c', '-f', 'out/haproxy-services.cfg']);
  }
} finally {
  await consul.close();
}
process.exit(status);
