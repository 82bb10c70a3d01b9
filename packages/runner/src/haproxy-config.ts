// haproxy.cfg as this package reads it: its proxies (listen/backend/frontend sections) and their
// server lines. One reader for the runtime-API plan and for the summary an applied change logs.
// HAProxy has no parser for its configuration outside its C source, so this one reads only the
// little the two need: section heads and `server` lines.

export interface ServerLine {
  proxy: string;
  name: string;
  host: string;
  port: string;
  params: string[];
}

export interface ParsedConfig {
  /** Every line with server lines reduced to "server <proxy>/<name>": the structure. */
  shape: string[];
  /** Server lines by "<proxy>/<name>", in file order. */
  servers: Map<string, ServerLine>;
  /** The proxies, as "listen x", "backend y", "frontend z", in file order. */
  proxies: string[];
  /** For each line of `shape`, the proxy it belongs to ('' outside proxies). */
  owners: string[];
}

const SECTION = /^(global|defaults|listen|frontend|backend|resolvers|peers|userlist|program|cache|mailers|ring|http-errors)\b\s*(\S*)/;
const PROXY = new Set(['listen', 'frontend', 'backend']);
const SERVER = /^\s+server\s+(\S+)\s+(\S+)\s*(.*)$/;

function serverLine(proxy: string, m: RegExpExecArray): ServerLine {
  const addr = m[2]!;
  const cut = addr.lastIndexOf(':');
  const host = cut > 0 ? addr.slice(0, cut).replace(/^\[|\]$/g, '') : addr;
  const port = cut > 0 ? addr.slice(cut + 1) : '';
  return { proxy, name: m[1]!, host, port, params: m[3]!.split(/\s+/).filter(Boolean) };
}

// An applied change reads both files twice: for the runtime-API plan and for the change summary.
// The last few results are kept (keyed by the text itself) so each file is read once; callers
// treat a ParsedConfig as read-only.
const RECENT = 4;
const recent = new Map<string, ParsedConfig>();

/** The proxies and server lines of `cfg`; the same object again for a text read lately. */
export function parseConfig(cfg: string): ParsedConfig {
  const known = recent.get(cfg);
  if (known) return known;
  const parsed = readConfig(cfg);
  recent.set(cfg, parsed);
  if (recent.size > RECENT) recent.delete(recent.keys().next().value!);
  return parsed;
}

function readConfig(cfg: string): ParsedConfig {
  const shape: string[] = [];
  const servers = new Map<string, ServerLine>();
  const proxies: string[] = [];
  const owners: string[] = [];
  let proxy = '';
  let owner = '';
  for (const raw of cfg.split('\n')) {
    const line = raw.replace(/\s+#.*$/, '').trimEnd();
    if (!line.trim() || line.trim().startsWith('#')) continue;
    const sec = /^\s/.test(line) ? null : SECTION.exec(line);
    if (sec) {
      proxy = sec[2] ?? '';
      owner = PROXY.has(sec[1]!) ? `${sec[1]} ${proxy}` : '';
      if (owner) proxies.push(owner);
    }
    owners.push(owner);
    const m = SERVER.exec(line);
    if (m) {
      const s = serverLine(proxy, m);
      servers.set(`${proxy}/${s.name}`, s);
      shape.push(`server ${proxy}/${s.name}`);
    } else shape.push(line.trim());
  }
  return { shape, servers, proxies, owners };
}

/** What one applied change did, per proxy: for the log line an operator (or an alert) reads. */
export interface ConfigChange {
  proxiesAdded: string[];
  proxiesRemoved: string[];
  /** Per proxy that stays: its servers added, removed, and changed ("name old → new"). */
  servers: { proxy: string; added: string[]; removed: string[]; changed: string[] }[];
  /** Anything else changed (timeouts, binds, global settings). */
  other: boolean;
}

const address = (s: ServerLine) => (s.port ? `${s.host.includes(':') ? `[${s.host}]` : s.host}:${s.port}` : s.host);

/** "name 10.0.0.1:11211 → 10.0.0.2:11211", with its options only when they changed; none when nothing did. */
function serverChange(was: ServerLine, now: ServerLine): string[] {
  const from = address(was);
  const to = address(now);
  const options = was.params.join(' ') === now.params.join(' ') ? '' : ` (options "${was.params.join(' ')}" → "${now.params.join(' ')}")`;
  if (from === to && !options) return [];
  return [`${now.name} ${from === to ? from : `${from} → ${to}`}${options}`];
}

/** Each proxy's servers by name ("db" → "db-0" → its line): grouped once, not searched per proxy. */
function serversByProxy(c: ParsedConfig): Map<string, Map<string, ServerLine>> {
  const out = new Map<string, Map<string, ServerLine>>();
  for (const s of c.servers.values()) {
    const of = out.get(s.proxy) ?? out.set(s.proxy, new Map()).get(s.proxy)!;
    of.set(s.name, s);
  }
  return out;
}

/** The difference between two configurations, proxy by proxy (linear in their size: it runs after every applied change). */
export function describeChange(before: string, after: string): ConfigChange {
  const a = parseConfig(before);
  const b = parseConfig(after);
  const hadProxy = new Set(a.proxies);
  const hasProxy = new Set(b.proxies);
  const [serversWere, serversAre] = [serversByProxy(a), serversByProxy(b)];
  const none = new Map<string, ServerLine>();
  const servers = b.proxies.filter((p) => hadProxy.has(p)).flatMap((p) => {
    const proxy = p.slice(p.indexOf(' ') + 1);
    const was = serversWere.get(proxy) ?? none;
    const now = serversAre.get(proxy) ?? none;
    const added = [...now.keys()].filter((n) => !was.has(n)).map((n) => `${n} ${address(now.get(n)!)}`);
    const removed = [...was.keys()].filter((n) => !now.has(n)).map((n) => `${n} ${address(was.get(n)!)}`);
    const changed = [...now.keys()].flatMap((n) => (was.has(n) ? serverChange(was.get(n)!, now.get(n)!) : []));
    return added.length || removed.length || changed.length ? [{ proxy: p, added, removed, changed }] : [];
  });
  const proxiesAdded = b.proxies.filter((p) => !hadProxy.has(p));
  const proxiesRemoved = a.proxies.filter((p) => !hasProxy.has(p));
  // The rest of the file: every line but server lines and the proxies added or removed.
  const addedOrRemoved = new Set([...proxiesAdded, ...proxiesRemoved]);
  const rest = (c: ParsedConfig) => c.shape.filter((l, i) => !l.startsWith('server ') && !addedOrRemoved.has(c.owners[i]!)).join('\n');
  return { proxiesAdded, proxiesRemoved, servers, other: rest(a) !== rest(b) };
}

/** "listen mem11211: server mem11211 127.0.0.1:11211 → 127.0.0.1:11212; listen x added" (empty when nothing of note changed). */
export function changeSummary(c: ConfigChange): string {
  const parts = [
    ...c.servers.map((s) => `${s.proxy}: ${[...s.added.map((x) => `+server ${x}`), ...s.removed.map((x) => `-server ${x}`), ...s.changed.map((x) => `server ${x}`)].join(', ')}`),
    ...c.proxiesAdded.map((p) => `${p} added`),
    ...c.proxiesRemoved.map((p) => `${p} removed`),
    ...(c.other ? ['other settings changed'] : []),
  ];
  return parts.join('; ');
}
