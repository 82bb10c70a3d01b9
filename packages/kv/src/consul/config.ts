// Options and CONSUL_HTTP_* variables → one resolved config, validated once at the edge.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { KVError } from '../errors.js';

/** The agent used when neither an address nor CONSUL_HTTP_ADDR is given, as Consul's own clients. */
export const CONSUL_DEFAULT_ADDRESS = '127.0.0.1:8500';

/** Consul's default `session_ttl_min`: an agent refuses shorter session TTLs. */
export const CONSUL_SESSION_TTL_MIN_MS = 10_000;

export interface ConsulStoreOptions {
  /** host:port or scheme://host:port; default env CONSUL_HTTP_ADDR, then CONSUL_DEFAULT_ADDRESS. */
  address?: string;
  /** http or https when the address has no scheme (default: https when CONSUL_HTTP_SSL=true). */
  scheme?: 'http' | 'https';
  /** The ACL token (else tokenFile, CONSUL_HTTP_TOKEN_FILE, the systemd credential consul-token, CONSUL_HTTP_TOKEN). */
  token?: string;
  /** A file whose first line is the token. */
  tokenFile?: string;
  /** PEM files for TLS (else CONSUL_CACERT, CONSUL_CLIENT_CERT, CONSUL_CLIENT_KEY). */
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  /** The name to verify the server certificate against (else CONSUL_TLS_SERVER_NAME). */
  tlsServerName?: string;
  /** Skip server certificate verification (else CONSUL_HTTP_SSL_VERIFY=false). Testing only. */
  tlsSkipVerify?: boolean;
  /** Per-request timeout for calls that are not blocking queries (ms). Default 10 s. */
  timeoutMs?: number;
  /** The agent's `session_ttl_min` (ms): lock TTLs are raised to it. Default 10 s, as Consul's. */
  sessionTtlMinMs?: number;
  /** The environment to read CONSUL_HTTP_* from (libraries never read process.env themselves). */
  env?: Record<string, string | undefined>;
}

export interface ConsulAddress {
  secure: boolean;
  host: string;
  port: number;
}

export interface ConsulTls {
  ca?: string;
  cert?: string;
  key?: string;
  servername?: string;
  rejectUnauthorized: boolean;
}

export interface ConsulConfig {
  address: ConsulAddress;
  /** Sent only in the X-Consul-Token header; not enumerable, so logging the config leaves it out. */
  readonly token?: string;
  /** Only for https addresses. */
  tls?: ConsulTls;
  timeoutMs: number;
  sessionTtlMinMs: number;
  /** "consul 127.0.0.1:8500" / "consul https://h:8501": for logs and messages; never the token. */
  describe: string;
}

/** "127.0.0.1:8500", "http://h:8500", "https://h", "[::1]:8500" → parts. */
export function parseConsulAddress(text: string, scheme?: 'http' | 'https'): ConsulAddress {
  const trimmed = text.trim();
  // A bare IPv6 address ("::1") has no port; brackets make it parse as a host.
  const hostPart = /^[0-9a-f]*:[0-9a-f:.]*$/i.test(trimmed) && trimmed.split(':').length > 2 ? `[${trimmed}]` : trimmed;
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(hostPart) ? hostPart : `${scheme ?? 'http'}://${hostPart}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new KVError('KV_CONFIG', `consul address "${text}" is not host:port or scheme://host:port`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new KVError('KV_CONFIG', `consul address "${text}": scheme must be http or https`);
  }
  if (!url.hostname) throw new KVError('KV_CONFIG', `consul address "${text}" has no host`);
  const secure = url.protocol === 'https:';
  return { secure, host: url.hostname.replace(/^\[|\]$/g, ''), port: url.port ? Number(url.port) : secure ? 8501 : 8500 };
}

function readConfigFile(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new KVError('KV_CONFIG', `cannot read the ${what} ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { cause: err });
  }
}

function resolveToken(opts: ConsulStoreOptions, env: Record<string, string | undefined>): string | undefined {
  if (opts.token) return opts.token;
  // Like Consul's own client: a token file wins over CONSUL_HTTP_TOKEN.
  const file = opts.tokenFile || env.CONSUL_HTTP_TOKEN_FILE;
  if (file) {
    const token = readConfigFile(file, 'token file').split(/\r?\n/)[0]!.trim();
    if (!token) throw new KVError('KV_CONFIG', `the token file ${file} is empty`);
    return token;
  }
  return credentialToken(env) ?? (env.CONSUL_HTTP_TOKEN || undefined);
}

/**
 * The systemd credential `consul-token` (LoadCredential=consul-token:/etc/…): systemd reads the file
 * as root and hands it to a unit's dynamic user, which could not read a root-owned 0600 file itself.
 * Empty (the units' SetCredential= default when no file is there): no token.
 */
export const TOKEN_CREDENTIAL = 'consul-token';

function credentialToken(env: Record<string, string | undefined>): string | undefined {
  if (!env.CREDENTIALS_DIRECTORY) return undefined;
  let text: string;
  try {
    text = readFileSync(join(env.CREDENTIALS_DIRECTORY, TOKEN_CREDENTIAL), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new KVError('KV_CONFIG', `cannot read the systemd credential ${TOKEN_CREDENTIAL} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`, { cause: err });
  }
  return text.split(/\r?\n/)[0]!.trim() || undefined;
}

export function resolveConsulConfig(opts: ConsulStoreOptions = {}): ConsulConfig {
  const env = opts.env ?? {};
  const scheme = opts.scheme ?? (/^(1|true)$/i.test(env.CONSUL_HTTP_SSL ?? '') ? 'https' : undefined);
  const address = parseConsulAddress(opts.address || env.CONSUL_HTTP_ADDR || CONSUL_DEFAULT_ADDRESS, scheme);
  const token = resolveToken(opts, env);
  let tls: ConsulTls | undefined;
  if (address.secure) {
    const ca = opts.caFile || env.CONSUL_CACERT;
    const cert = opts.certFile || env.CONSUL_CLIENT_CERT;
    const key = opts.keyFile || env.CONSUL_CLIENT_KEY;
    if (Boolean(cert) !== Boolean(key)) {
      throw new KVError('KV_CONFIG', 'a TLS client certificate needs both CONSUL_CLIENT_CERT and CONSUL_CLIENT_KEY (certFile and keyFile)');
    }
    const servername = opts.tlsServerName || env.CONSUL_TLS_SERVER_NAME;
    tls = {
      ...(ca ? { ca: readConfigFile(ca, 'CA certificate file') } : {}),
      ...(cert ? { cert: readConfigFile(cert, 'client certificate file') } : {}),
      ...(key ? { key: readConfigFile(key, 'client key file') } : {}),
      ...(servername ? { servername } : {}),
      rejectUnauthorized: !(opts.tlsSkipVerify ?? /^(0|false)$/i.test(env.CONSUL_HTTP_SSL_VERIFY ?? '')),
    };
  }
  const timeoutMs = opts.timeoutMs ?? 10_000;
  if (!(timeoutMs > 0)) throw new KVError('KV_CONFIG', `consul timeout must be above 0 ms (got ${timeoutMs})`);
  const sessionTtlMinMs = opts.sessionTtlMinMs ?? CONSUL_SESSION_TTL_MIN_MS;
  if (!(sessionTtlMinMs > 0)) throw new KVError('KV_CONFIG', `consul session_ttl_min must be above 0 ms (got ${sessionTtlMinMs})`);
  const hostPort = `${address.host.includes(':') ? `[${address.host}]` : address.host}:${address.port}`;
  const config: ConsulConfig = { address, ...(tls ? { tls } : {}), timeoutMs, sessionTtlMinMs, describe: `consul ${address.secure ? 'https://' : ''}${hostPort}` };
  // Not enumerable: a config that ends up in a log line or JSON does not carry the token.
  if (token) Object.defineProperty(config, 'token', { value: token, enumerable: false });
  return config;
}
