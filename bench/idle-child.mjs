// The measured process of bench/scale's idle rows: a watching renderer (the shipped templates,
// one memcached entry) on the file store or Consul, doing nothing but waiting for changes.
import { runWatch } from '@confd-haproxy/renderer';
import { createConsulStore, createFileStore } from '@confd-haproxy/kv';

const [backend, where, confdir] = process.argv.slice(2);
const store = backend === 'consul' ? createConsulStore({ address: where }) : createFileStore({ file: where });
const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const ac = new AbortController();
let passes = 0;
process.on('SIGTERM', () => {
  process.send?.({ passes, memory: process.memoryUsage() });
  ac.abort();
});
const watching = runWatch({ store, confdir, logger: quiet, signal: ac.signal, env: { PATH: process.env.PATH }, onPass: () => {
  if (++passes === 1) process.send?.('rendered');
} });
await watching;
await store.close();
process.exit(0);
