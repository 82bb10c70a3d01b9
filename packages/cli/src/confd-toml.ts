// confd's confd.toml as this project reads it (--config-file): each setting and the flag it fills,
// and the settings of confd 0.17 this project names differently or does not take. The store's
// settings come from the store descriptors (store-flags.ts).
import { STORE_TOML_SETTINGS } from './store-flags.js';

/** What a confd.toml setting must hold: a duration may be a number of seconds or a string. */
export type SettingType = 'string' | 'boolean' | 'duration' | 'strings';

/** Setting → [the flag's attribute name, its type]. */
export const CONFD_TOML_SETTINGS: Readonly<Record<string, readonly [string, SettingType]>> = {
  backend: ['backend', 'string'],
  confdir: ['confdir', 'string'],
  interval: ['interval', 'duration'],
  prefix: ['prefix', 'string'],
  log_level: ['logLevel', 'string'],
  noop: ['noop', 'boolean'],
  watch: ['watch', 'boolean'],
  onetime: ['onetime', 'boolean'],
  sync_only: ['syncOnly', 'boolean'],
  ...STORE_TOML_SETTINGS,
};

/** confd 0.17's own spellings (its struct tags) of settings this project spells with an underscore. */
export const CONFD_TOML_RENAMED: Readonly<Record<string, string>> = {
  'log-level': 'log_level',
  'sync-only': 'sync_only',
};

/** confd 0.17 settings with no counterpart here (backends and features this project does not have). */
export const CONFD_TOML_UNSUPPORTED: Readonly<Record<string, string>> = {
  auth_type: 'Vault authentication',
  app_id: 'Vault authentication',
  user_id: 'Vault authentication',
  role_id: 'Vault authentication',
  secret_id: 'Vault authentication',
  path: 'Vault authentication',
  table: 'the DynamoDB backend',
  separator: 'the Redis backend',
  secret_keyring: 'the crypt functions (cget, cgets, cgetv, cgetvs)',
  srv_domain: 'store nodes from DNS SRV records (give --node)',
  srv_record: 'store nodes from DNS SRV records (give --node)',
  client_insecure: 'skipping TLS verification',
  filter: "the file backend's filter (give the files with --file)",
};

/** confd's backend names this project reads under another name; any other is not offered. */
export const CONFD_BACKENDS: Readonly<Record<string, string>> = { consul: 'consul', etcdv3: 'etcd', file: 'file' };
