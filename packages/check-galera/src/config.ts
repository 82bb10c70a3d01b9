// checkgalera's config file, in the spirit of pxcScheduler's config.toml: a [global] section and
// one [cluster.<name>] section per Galera cluster with its nodes. pxcScheduler's 8000-range backup
// hostgroups (the writer candidates and their order) become each node's writerWeight.
import { readFileSync } from 'node:fs';
import { parse, TomlError } from 'smol-toml';
import { CheckerError, readConfigFile, type Target } from '@confd-haproxy/checker';
import { DEFAULT_WEIGHT, entryKey, TAG_PATTERN } from '@confd-haproxy/schema';
import { readPemSetting, type MysqlTls } from '@confd-haproxy/check-mysql';

export interface GaleraNodeConfig extends Target {
  /** Writer candidate order (pxcScheduler's weight in HG 8000+hgW): highest first; 0 = never the writer. */
  writerWeight: number;
  /** HAProxy weight in the reader listen (0..256). */
  readerWeight: number;
  /** gmcast.segment; read from the node when absent. */
  segment?: number;
}

export interface GaleraClusterConfig {
  name: string;
  user: string;
  password: string;
  /** The writer listen port (default 13306 + cluster index · 10). */
  writerPort: number;
  /** The reader listen port (default writerPort + 1). */
  readerPort: number;
  /** 0 no fail-over, 1 configured candidates in the main segment, 2 any node of the main segment, 3 any segment. */
  activeFailover: 0 | 1 | 2 | 3;
  failBack: boolean;
  /** Per-node deadline (ms). */
  checkTimeOut: number;
  mainSegment: number;
  singlePrimary: boolean;
  maxNumWriters: number;
  writerIsAlsoReader: boolean;
  /** Extra good checks before a failed node serves again (pxcScheduler's count: 0 = at once). */
  retryUp: number;
  /** Extra failed checks before a serving node is taken out (0 = at once). */
  retryDown: number;
  /** TLS to every node (sslCa, sslCert, sslKey, sslVerify); plaintext when absent. */
  tls?: MysqlTls;
  nodes: GaleraNodeConfig[];
}

export interface GaleraConfig {
  file: string;
  /** Pass interval (ms) in the loop (pxcScheduler's daemonInterval). */
  daemonInterval: number;
  /**
   * Accepted for pxcScheduler files. The local lock is a PID file, taken over as soon as its process
   * is dead, so it needs no expiry.
   */
  lockFileTimeout: number;
  /** TTL (s) of the store lock per cluster: a crashed checker's lock lapses after this. */
  lockClusterTimeout: number;
  clusters: GaleraClusterConfig[];
}

type Table = Record<string, unknown>;
const isTable = (v: unknown): v is Table => !!v && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Date);

const GLOBAL_KEYS = new Set(['daemonInterval', 'lockFileTimeout', 'lockClusterTimeout', 'debug', 'logLevel', 'logTarget', 'logFile', 'daemonize', 'performance', 'OS']);
const CLUSTER_KEYS = new Set(['user', 'password', 'passwordFile', 'writerPort', 'readerPort', 'activeFailover', 'failBack', 'checkTimeOut', 'mainSegment', 'singlePrimary', 'maxNumWriters', 'writerIsAlsoReader', 'retryUp', 'retryDown', 'sslCa', 'sslCert', 'sslKey', 'sslVerify', 'node']);
const NODE_KEYS = new Set(['host', 'port', 'writerWeight', 'readerWeight', 'segment']);
const HOST = /^[A-Za-z0-9_.:-]{1,255}$/;

/** A cluster's TLS: on with any of sslCa/sslCert/sslKey, the server verified unless sslVerify = false. */
function tlsSettings(c: Table, path: string, bad: (key: string, what: string) => never, bool: (t: Table, k: string, path: string, def: boolean) => boolean): MysqlTls | undefined {
  const pem = (k: 'sslCa' | 'sslCert' | 'sslKey'): string | undefined => {
    const v = c[k];
    if (v === undefined) return undefined;
    if (typeof v !== 'string' || !v) return bad(`${path}.${k}`, `${JSON.stringify(v)} is not a path`);
    try {
      return readPemSetting(v, `${path}.${k}`);
    } catch (err) {
      return bad(`${path}.${k}`, `cannot read ${v} (${((err as Error).cause as Error | undefined)?.message ?? (err as Error).message})`);
    }
  };
  const verify = bool(c, 'sslVerify', path, true);
  const [ca, cert, key] = [pem('sslCa'), pem('sslCert'), pem('sslKey')];
  if (Boolean(cert) !== Boolean(key)) bad(`${path}.${cert ? 'sslKey' : 'sslCert'}`, `is required with ${cert ? 'sslCert' : 'sslKey'} (a client certificate needs its key)`);
  if (!ca && !cert) return c.sslVerify === undefined ? undefined : bad(`${path}.sslVerify`, 'is set but TLS is off: add sslCa (and sslCert/sslKey)');
  return { ...(ca ? { ca } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}), verify };
}

/** Parse and check the whole file; every problem names the file and the key. */
export function parseGaleraConfig(file: string, text: string): GaleraConfig {
  let doc: Table;
  try {
    doc = parse(text) as Table;
  } catch (err) {
    const where = err instanceof TomlError ? ` (line ${err.line}, column ${err.column})` : '';
    throw new CheckerError('CHECKER_CONFIG', `${file}: not valid TOML${where}: ${(err as Error).message.split('\n')[0]}`, { cause: err });
  }
  const bad = (key: string, what: string): never => {
    throw new CheckerError('CHECKER_CONFIG', `${file}: ${key}: ${what}`);
  };
  const int = (t: Table, k: string, path: string, def: number, min: number, max: number): number => {
    const v = t[k] ?? def;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) bad(`${path}.${k}`, `${JSON.stringify(v)} is not a whole number in ${min}..${max}`);
    return v as number;
  };
  const bool = (t: Table, k: string, path: string, def: boolean): boolean => {
    const v = t[k] ?? def;
    if (typeof v === 'boolean') return v;
    if (v === 0 || v === 1) return v === 1; // pxcScheduler writes writerIsAlsoReader = 1
    return bad(`${path}.${k}`, `${JSON.stringify(v)} is not true/false (or 1/0)`);
  };
  const unknown = (t: Table, allowed: Set<string>, path: string) => {
    for (const k of Object.keys(t)) if (!allowed.has(k)) bad(`${path}.${k}`, `unknown setting (known: ${[...allowed].join(', ')})`);
  };
  for (const k of Object.keys(doc)) if (k !== 'global' && k !== 'cluster') bad(k, 'unknown section (use [global] and [cluster.<name>])');
  const g = doc.global ?? {};
  if (!isTable(g)) return bad('global', 'is not a section');
  unknown(g, GLOBAL_KEYS, 'global');
  const clustersDoc = doc.cluster ?? {};
  if (!isTable(clustersDoc)) return bad('cluster', 'is not a section of [cluster.<name>] sections');
  const names = Object.keys(clustersDoc);
  if (names.length === 0) bad('cluster', 'no [cluster.<name>] section');
  const clusters = names.map((name, index): GaleraClusterConfig => {
    const path = `cluster.${name}`;
    if (!TAG_PATTERN.test(name)) bad(path, `the name must be letters, digits, _ . - (it becomes the key ${entryKey('galera', '<name>')})`);
    const c = clustersDoc[name];
    if (!isTable(c)) return bad(path, 'is not a section');
    unknown(c, CLUSTER_KEYS, path);
    const user = c.user;
    if (typeof user !== 'string' || !user) bad(`${path}.user`, 'is required (the monitoring user)');
    let password = c.password ?? '';
    if (c.passwordFile !== undefined) {
      if (typeof c.passwordFile !== 'string') bad(`${path}.passwordFile`, 'is not a path');
      try {
        password = readFileSync(c.passwordFile as string, 'utf8').split('\n')[0]!.trim();
      } catch (err) {
        bad(`${path}.passwordFile`, `cannot read ${String(c.passwordFile)} (${(err as Error).message})`);
      }
    }
    if (typeof password !== 'string') bad(`${path}.password`, 'is not a string');
    const tls = tlsSettings(c, path, bad, bool);
    const nodesDoc = c.node;
    if (!Array.isArray(nodesDoc) || nodesDoc.length === 0) bad(`${path}.node`, 'no nodes: add [[cluster.<name>.node]] sections with host and port');
    const nodes = (nodesDoc as unknown[]).map((n, i): GaleraNodeConfig => {
      const np = `${path}.node[${i}]`;
      if (!isTable(n)) return bad(np, 'is not a table');
      unknown(n, NODE_KEYS, np);
      if (typeof n.host !== 'string' || !HOST.test(n.host)) bad(`${np}.host`, `${JSON.stringify(n.host)} is not a host name or address`);
      const seg = n.segment === undefined ? undefined : int(n, 'segment', np, 0, 0, 255);
      return {
        host: n.host as string,
        port: int(n, 'port', np, 3306, 1, 65535),
        writerWeight: int(n, 'writerWeight', np, 1, 0, 1_000_000),
        readerWeight: int(n, 'readerWeight', np, DEFAULT_WEIGHT, 0, 256),
        ...(seg === undefined ? {} : { segment: seg }),
      };
    });
    const dup = nodes.find((n, i) => nodes.findIndex((x) => x.host === n.host && x.port === n.port) !== i);
    if (dup) bad(`${path}.node`, `${dup.host}:${dup.port} is listed twice`);
    const writerPort = int(c, 'writerPort', path, 13306 + index * 10, 1, 65535);
    const readerPort = int(c, 'readerPort', path, writerPort + 1, 1, 65535);
    if (readerPort === writerPort) bad(`${path}.readerPort`, 'must differ from writerPort');
    const activeFailover = int(c, 'activeFailover', path, 1, 0, 3) as 0 | 1 | 2 | 3;
    const singlePrimary = bool(c, 'singlePrimary', path, true);
    const maxNumWriters = int(c, 'maxNumWriters', path, 1, 1, 64);
    if (singlePrimary && c.maxNumWriters !== undefined && maxNumWriters > 1) bad(`${path}.maxNumWriters`, `${maxNumWriters} writers with singlePrimary = true (set singlePrimary = false for more than one)`);
    return {
      name,
      user: user as string,
      password: password as string,
      writerPort,
      readerPort,
      activeFailover,
      failBack: bool(c, 'failBack', path, false),
      checkTimeOut: int(c, 'checkTimeOut', path, 4000, 50, 600_000),
      mainSegment: int(c, 'mainSegment', path, 0, 0, 255),
      singlePrimary,
      maxNumWriters: singlePrimary ? 1 : maxNumWriters,
      writerIsAlsoReader: bool(c, 'writerIsAlsoReader', path, true),
      retryUp: int(c, 'retryUp', path, 0, 0, 100),
      retryDown: int(c, 'retryDown', path, 0, 0, 100),
      ...(tls ? { tls } : {}),
      nodes,
    };
  });
  return {
    file,
    daemonInterval: int(g, 'daemonInterval', 'global', 2000, 50, 3_600_000),
    lockFileTimeout: int(g, 'lockFileTimeout', 'global', 60, 1, 86_400),
    lockClusterTimeout: int(g, 'lockClusterTimeout', 'global', 15, 1, 86_400),
    clusters,
  };
}

export function readGaleraConfig(file: string): GaleraConfig {
  return parseGaleraConfig(file, readConfigFile(file));
}
