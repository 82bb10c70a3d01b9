// A bad entry never removes a section the current dest serves. With no last good value (a new
// host, lost state) the entry's listens are kept exactly as dest has them, and every other entry
// renders from the store as usual: another tag's failover still goes out (runtime API or reload).
import { keyTag, listenNames } from '@confd-haproxy/schema';
import type { BadEntry } from './entries.js';

const SECTION_HEAD = /^(listen|backend|frontend)\s+(\S+)/;
const BIND_PORT = /^\s+bind\s+\S*:(\d+)\b/;

/** The ports a section binds. */
const boundPorts = (lines: readonly string[]) => lines.flatMap((l) => BIND_PORT.exec(l)?.[1] ?? []);

/** The listen/backend/frontend names the shipped partials render for the entry under `key`. */
export function sectionNamesOf(key: string): string[] {
  return keyTag(key) ? listenNames(key) : [];
}

interface Block {
  name: string;
  lines: string[];
}

/** The file as sections: the lines before the first one, then each section with its lines up to the next. */
function blocks(text: string): { head: string[]; sections: Block[] } {
  const head: string[] = [];
  const sections: Block[] = [];
  for (const line of text.split('\n')) {
    const m = SECTION_HEAD.exec(line);
    if (m) sections.push({ name: m[2]!, lines: [line] });
    else if (sections.length) sections.at(-1)!.lines.push(line);
    else head.push(line);
  }
  return { head, sections };
}

export interface Held {
  text: string;
  /** The bad entries, those whose sections were kept from dest marked `kept`. */
  bad: BadEntry[];
}

/**
 * The render with every section of a left-out bad entry that `previous` serves and the render
 * lacks put back as `previous` has it, in its place among the sections around it.
 */
export function holdServedSections(previous: string | undefined, rendered: string, bad: readonly BadEntry[]): Held {
  const leftOut = bad.filter((b) => b.fallback === 'left-out' && b.source !== 'catalog');
  if (previous === undefined || leftOut.length === 0) return { text: rendered, bad: [...bad] };
  const before = blocks(previous);
  const after = blocks(rendered);
  const present = new Set(after.sections.map((s) => s.name));
  // A kept section never binds a port the render gives to another entry (the owner of a port wins).
  const bound = new Set(after.sections.flatMap((s) => boundPorts(s.lines)));
  const kept = new Set<string>();
  for (const b of leftOut) {
    for (const name of sectionNamesOf(b.key)) {
      if (present.has(name)) continue;
      const at = before.sections.findIndex((s) => s.name === name);
      if (at < 0 || boundPorts(before.sections[at]!.lines).some((p) => bound.has(p))) continue;
      const next = before.sections.slice(at + 1).find((s) => present.has(s.name));
      const where = next ? after.sections.findIndex((s) => s.name === next.name) : after.sections.length;
      after.sections.splice(where, 0, before.sections[at]!);
      present.add(name);
      for (const p of boundPorts(before.sections[at]!.lines)) bound.add(p);
      kept.add(b.key);
    }
  }
  if (kept.size === 0) return { text: rendered, bad: [...bad] };
  const text = [...after.head, ...after.sections.flatMap((s) => s.lines)].join('\n');
  return { text, bad: bad.map((b) => (kept.has(b.key) ? { ...b, fallback: 'kept' as const } : b)) };
}
