// Data guards: a render that would take servers away from HAProxy all at once, below a minimum,
// or from data a leaderless store answered with, is refused; the last good file stays.
import { ConfdError } from '@confd-haproxy/base';

export interface GuardLimits {
  /** Refuse a render with fewer server lines than this. */
  minServers?: number;
  /** Refuse a render that removes more than this share (0..1) of the current server lines, or of its listen/backend/frontend sections. */
  maxRemoved?: number;
}

export class GuardError extends ConfdError<'GUARD_REFUSED'> {
  override readonly name = 'GuardError';
  constructor(message: string) {
    super('GUARD_REFUSED', 'failure', message);
  }
}

const countServers = (cfg: string) => (cfg.match(/^\s+server\s+\S+/gm) ?? []).length;
const sectionNames = (cfg: string) => new Set([...cfg.matchAll(/^(listen|backend|frontend)\s+(\S+)/gm)].map((m) => `${m[1]} ${m[2]}`));

/** Why removing these sections breaks max_removed, or undefined. */
function sectionsRemovedProblem(name: string, previous: string, rendered: string, maxRemoved: number): GuardError | undefined {
  const before = sectionNames(previous);
  if (before.size === 0) return undefined;
  const now = sectionNames(rendered);
  const gone = [...before].filter((s) => !now.has(s));
  const share = gone.length / before.size;
  if (share <= maxRemoved) return undefined;
  return new GuardError(`${name}: the render removes ${gone.length} of ${before.size} sections at once (${gone.join(', ')}; ${Math.round(share * 100)} % > max_removed ${Math.round(maxRemoved * 100)} %); keeping the last good file`);
}

/** Why this render must not replace `previous`, or undefined when it may. */
export function guardRender(opts: { name: string; previous: string | undefined; rendered: string; knownLeader: boolean; allowStale: boolean; limits: GuardLimits }): GuardError | undefined {
  const { name, previous, rendered, limits } = opts;
  if (!opts.knownLeader && !opts.allowStale) {
    return new GuardError(`${name}: the store answered without a known leader (the data may be stale); keeping the last good file (--allow-stale to render anyway)`);
  }
  const now = countServers(rendered);
  const before = previous === undefined ? 0 : countServers(previous);
  if (now === 0 && before > 0) return new GuardError(`${name}: the render has no servers at all (had ${before}); keeping the last good file`);
  if (limits.minServers !== undefined && now < limits.minServers && before >= now) {
    return new GuardError(`${name}: the render has ${now} servers, below min_servers ${limits.minServers}; keeping the last good file`);
  }
  if (limits.maxRemoved !== undefined && before > 0) {
    const removed = (before - now) / before;
    if (removed > limits.maxRemoved) {
      return new GuardError(`${name}: the render removes ${before - now} of ${before} servers at once (${Math.round(removed * 100)} % > max_removed ${Math.round(limits.maxRemoved * 100)} %); keeping the last good file`);
    }
  }
  if (limits.maxRemoved !== undefined && previous !== undefined) return sectionsRemovedProblem(name, previous, rendered, limits.maxRemoved);
  return undefined;
}

/** Server lines per backend or listen section, by section name. */
function serversPerBackend(cfg: string): Map<string, number> {
  const out = new Map<string, number>();
  let section: string | undefined;
  for (const line of cfg.split('\n')) {
    const head = /^(backend|listen|frontend|defaults|global|peers|resolvers|userlist|cache|program|ring|http-errors|mailers)\b\s*(\S*)/.exec(line);
    if (head) {
      section = head[1] === 'backend' || head[1] === 'listen' ? `${head[1]} ${head[2]}` : undefined;
      if (section && !out.has(section)) out.set(section, 0);
    } else if (section && /^\s+server\s+\S+/.test(line)) out.set(section, out.get(section)! + 1);
  }
  return out;
}

/**
 * Why this render must not replace `previous` because a backend that had servers is still
 * rendered but with none (an empty catalog answer: the classic outage of templates rendered from service health).
 */
export function guardEmptiedBackends(opts: { name: string; previous: string | undefined; rendered: string }): GuardError | undefined {
  if (opts.previous === undefined) return undefined;
  const before = serversPerBackend(opts.previous);
  const now = serversPerBackend(opts.rendered);
  const emptied = [...before].filter(([section, n]) => n > 0 && now.get(section) === 0).map(([section, n]) => `${section} (had ${n})`);
  if (!emptied.length) return undefined;
  return new GuardError(`${opts.name}: the render leaves ${emptied.join(', ')} without servers; keeping the last good file`);
}
