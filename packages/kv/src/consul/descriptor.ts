// Consul as --backend consul: its flags, its confd.toml settings, and a store that does everything.
import type { StoreDescriptor } from '../descriptor.js';
import { list, NODE_FLAG, SCHEME_FLAG, schemeOf, str, TLS_FLAGS, tlsFiles } from '../flags.js';
import type { ConsulStoreOptions } from './config.js';
import { createConsulStore } from './index.js';

export const consulDescriptor: StoreDescriptor<{ backend: 'consul' } & ConsulStoreOptions> = {
  backend: 'consul',
  flags: [
    NODE_FLAG,
    SCHEME_FLAG,
    { key: 'token', names: ['--auth-token', '--token'], arg: '<token>', help: 'Consul ACL token; sent only as a header, but argv is visible in ps: prefer CONSUL_HTTP_TOKEN or --token-file', toml: { name: 'auth_token', type: 'string' } },
    { key: 'tokenFile', names: ['--token-file'], arg: '<path>', help: 'read the Consul ACL token from a file' },
    ...TLS_FLAGS,
  ],
  options(f, env) {
    const [address] = list(f, 'node');
    const token = str(f, 'token');
    const tokenFile = str(f, 'tokenFile');
    return { backend: 'consul', env, ...(address ? { address } : {}), ...schemeOf(f), ...(token ? { token } : {}), ...(tokenFile ? { tokenFile } : {}), ...tlsFiles(f) };
  },
  capabilities: () => ['read', 'watch', 'write', 'lock'],
  open: (o) => createConsulStore(o),
};
