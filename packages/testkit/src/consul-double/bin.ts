#!/usr/bin/env node
// consul-double: serve the Consul HTTP API double on 127.0.0.1 until SIGTERM/SIGINT, so templates
// and checkers can be tried without Consul. Usage: consul-double [--port 8500]
import { startConsulDouble } from './index.js';

const USAGE = 'usage: consul-double [--port 8500]';
const args = process.argv.slice(2);
let port = 8500;
for (let i = 0; i < args.length; i++) {
  const a = args[i]!;
  if (a === '--help' || a === '-h') {
    process.stdout.write(`${USAGE}\nServes a Consul HTTP API test double (KV, sessions, catalog, health, agent services, blocking queries) on 127.0.0.1; --port 0 picks a free port.\n`);
    process.exit(0);
  }
  const v = a.startsWith('--port=') ? a.slice(7) : a === '--port' ? args[++i] : undefined;
  if (v === undefined || !/^\d+$/.test(v) || Number(v) > 65535) {
    process.stderr.write(`consul-double: bad argument "${a}${a === '--port' ? ` ${v ?? ''}` : ''}" (${USAGE})\n`);
    process.exit(64);
  }
  port = Number(v);
}

let double;
try {
  // A long-running double keeps no request log: it would grow without bound.
  double = await startConsulDouble({ port, recordRequests: false });
} catch (err) {
  process.stderr.write(`consul-double: cannot listen on 127.0.0.1:${port} (${(err as Error).message})\n`);
  process.exit(1);
}
process.stdout.write(`consul-double listening on ${double.address}\n`);
const stop = () => {
  void double.close().then(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
