// etcd v3 as --backend etcd. It belongs in etcd/ beside the store; it sits here until the work under
// way in etcd/ has landed, so the two do not collide.
import { UsageError } from '@confd-haproxy/base';
import type { StoreDescriptor } from '../descriptor.js';
import { createEtcdStore, type EtcdStoreOptions } from './index.js';
import { list, NODE_FLAG, SCHEME_FLAG, schemeOf, str, TLS_FLAGS, tlsFiles } from '../flags.js';

export const etcdDescriptor: StoreDescriptor<{ backend: 'etcd' } & EtcdStoreOptions> = {
  backend: 'etcd',
  flags: [
    NODE_FLAG,
    SCHEME_FLAG,
    ...TLS_FLAGS,
    { key: 'basicAuth', names: ['--basic-auth'], help: 'etcd: authenticate with --username and --password (as confd)', toml: { name: 'basic_auth', type: 'boolean' } },
    { key: 'username', names: ['--username', '--etcd-username'], arg: '<name>', help: 'etcd user', toml: { name: 'username', type: 'string' } },
    { key: 'password', names: ['--password'], arg: '<password>', help: 'etcd password (argv is visible in ps: prefer --etcd-password-file, or password in --config-file)', toml: { name: 'password', type: 'string' } },
    { key: 'password', names: ['--etcd-password-file'], arg: '<path>', help: "the etcd user's password, first line of this file", fromFile: true },
    { key: 'etcdLayout', names: ['--etcd-layout'], arg: '<layout>', help: 'etcd keys: confd ("/haproxy/...", the default, as confd reads them) or bare ("haproxy/...", releases before)' },
  ],
  options(f) {
    const username = str(f, 'username');
    const password = str(f, 'password');
    const layout = str(f, 'etcdLayout');
    if (f.basicAuth && !username) throw new UsageError('--basic-auth needs --username and --password');
    if (Boolean(username) !== Boolean(password)) throw new UsageError('--username and --password go together');
    if (Boolean(str(f, 'clientCert')) !== Boolean(str(f, 'clientKey'))) throw new UsageError('--client-cert and --client-key go together');
    if (layout !== undefined && layout !== 'confd' && layout !== 'bare') throw new UsageError(`--etcd-layout: "${layout}" is not confd or bare`);
    const nodes = list(f, 'node');
    return { backend: 'etcd', ...(nodes.length ? { nodes } : {}), ...schemeOf(f), ...tlsFiles(f), ...(username ? { username, password: password! } : {}), ...(layout ? { layout } : {}) };
  },
  capabilities: () => ['read', 'watch', 'write', 'lock'],
  open: (o) => createEtcdStore(o),
};
