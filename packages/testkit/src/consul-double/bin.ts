#!/usr/bin/env node
// consul-double: serve the Consul HTTP API double on 127.0.0.1 until SIGTERM/SIGINT, so templates
// can be tried in CI without Consul. Usage: consul-double [--port 8500]
import { startConsulDouble } from './index.js';

const args = process.argv.slice(2);
let port = 8500;
for (let i = 0; i < args.length; i++) {
  const a = args[i]!;
  const v = a.startsWith('--port=') ? a.slice(7) : a === '--port' || a === '-port' ? args[++i] : undefined;
  if (a === '--help' || a === '-h') {
    process.stdout.write('usage: consul-double [--port 8500]\nServes a Consul HTTP API test double (KV, sessions, blocking queries) on 127.0.0.1.\n');
    process.exit(0);
  }
  if (v === undefined || !/^\d+$/.test(v) || Number(v) > 65535) {
    process.stderr.write(`consul-double: bad argument "${a}" (usage: consul-double [--port 8500])\n`);
    process.exit(64);
  }
  port = Number(v);
}
const double = await startConsulDouble({ port });
process.stdout.write(`consul-double listening on ${double.address}\n`);
const stop = () => {
  void double.close().then(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
