// Store flags more than one backend takes, declared once and listed by each descriptor that honours them.
import { UsageError } from '@confd-haproxy/base';
import type { StoreFlagSpec, StoreFlagValues } from './descriptor.js';

export const NODE_FLAG: StoreFlagSpec = {
  key: 'node',
  names: ['--node', '--consul'],
  arg: '<address>',
  help: 'store address, repeatable: a Consul agent (host:port or scheme://host:port; default CONSUL_HTTP_ADDR) or etcd endpoints',
  repeatable: true,
  split: true,
  toml: { name: 'nodes', type: 'strings' },
};

export const SCHEME_FLAG: StoreFlagSpec = { key: 'scheme', names: ['--scheme'], arg: '<scheme>', help: 'http or https for --node without a scheme', toml: { name: 'scheme', type: 'string' } };

export const TLS_FLAGS: readonly StoreFlagSpec[] = [
  { key: 'clientCert', names: ['--client-cert'], arg: '<path>', help: 'TLS client certificate for the store (Consul or etcd)', toml: { name: 'client_cert', type: 'string' } },
  { key: 'clientKey', names: ['--client-key'], arg: '<path>', help: 'TLS client key for the store', toml: { name: 'client_key', type: 'string' } },
  { key: 'clientCaKeys', names: ['--client-ca-keys'], arg: '<path>', help: "TLS CA certificate the store's certificate is verified with", toml: { name: 'client_cakeys', type: 'string' } },
];

export const str = (f: StoreFlagValues, key: string): string | undefined => {
  const v = f[key];
  return typeof v === 'string' ? v : undefined;
};

export const list = (f: StoreFlagValues, key: string): string[] => {
  const v = f[key];
  return typeof v === 'string' ? [v] : Array.isArray(v) ? [...(v as readonly string[])] : [];
};

export function schemeOf(f: StoreFlagValues): { scheme?: 'http' | 'https' } {
  const s = str(f, 'scheme');
  if (s === undefined) return {};
  if (s === 'http' || s === 'https') return { scheme: s };
  throw new UsageError(`--scheme: "${s}" is not http or https`);
}

export function tlsFiles(f: StoreFlagValues): { caFile?: string; certFile?: string; keyFile?: string } {
  const ca = str(f, 'clientCaKeys');
  const cert = str(f, 'clientCert');
  const key = str(f, 'clientKey');
  return { ...(ca ? { caFile: ca } : {}), ...(cert ? { certFile: cert } : {}), ...(key ? { keyFile: key } : {}) };
}
