// The file store's on-disk format: a flat JSON object of key → string value, plus one optional
// "@meta" object that keeps indexes, tombstones, sessions and lock-delays. A hand-written file
// without "@meta" is valid input; hand edits to a managed file are detected by value hashes.
import { createHash } from 'node:crypto';
import { KVError } from '../errors.js';
import type { KVIndex, KVPair } from '../types.js';
import { jsonErrorOffset } from './json-position.js';

export const META_KEY = '@meta';
/** Tombstones kept for watchers of deleted keys; older ones collapse into `floor`. */
const MAX_TOMBSTONES = 1000;

export interface KeyMeta {
  c: KVIndex;
  m: KVIndex;
  f?: number;
  /** Lock session holding the key. */
  s?: string;
  /** Hash of the value as last written by the store: a mismatch means a hand edit. */
  h: string;
}

export interface SessionMeta {
  holder: string;
  key: string;
  expires: number;
  ttlMs: number;
  lockDelayMs: number;
  /** The key goes with the session (KVLockOptions.behavior). */
  del?: true;
}

export interface Meta {
  v: 1;
  index: KVIndex;
  /** Deletes raise the index of their prefix: key → index of the delete. */
  tombstones: Record<string, KVIndex>;
  /** Index under which pruned tombstones fell; applies to every prefix. */
  floor: KVIndex;
  keys: Record<string, KeyMeta>;
  sessions: Record<string, SessionMeta>;
  /** key → epoch ms until which no session may acquire it. */
  lockDelays: Record<string, number>;
}

export interface State {
  values: Map<string, string>;
  meta: Meta;
}

export const hashValue = (v: string): string => createHash('sha1').update(v).digest('base64').slice(0, 12);

export function emptyState(): State {
  return {
    values: new Map(),
    meta: { v: 1, index: 1, tombstones: {}, floor: 0, keys: {}, sessions: {}, lockDelays: {} },
  };
}

function position(text: string): string {
  const pos = jsonErrorOffset(text);
  if (pos < 0) return '';
  const before = text.slice(0, pos);
  const line = before.split('\n').length;
  const col = pos - before.lastIndexOf('\n');
  return ` at line ${line} column ${col}`;
}

/**
 * Parse the file's text. `mtimeMs` dates hand edits: a value whose hash no longer matches gets
 * an index above everything the store wrote, and above any earlier hand edit.
 */
export function parseState(text: string, file: string, mtimeMs: number): State {
  if (text.trim() === '') {
    throw new KVError('KV_CORRUPT', `${file}: the file is empty; expected a JSON object of key → string value (write {} for an empty store)`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new KVError('KV_CORRUPT', `${file}: not valid JSON${position(text)} (${why})`, { cause: err });
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new KVError('KV_CORRUPT', `${file}: expected a JSON object of key → string value`);
  }
  const state = emptyState();
  for (const [key, value] of Object.entries(raw as Record<string, unknown>)) {
    if (key === META_KEY) continue;
    if (typeof value !== 'string') {
      throw new KVError('KV_CORRUPT', `${file}: key "${key}" must hold a string (JSON entries are written as strings, e.g. "{\\"name\\":\\"mem1\\"}"), got ${value === null ? 'null' : typeof value}`);
    }
    state.values.set(key.replace(/^\/+/, ''), value);
  }
  const metaRaw = (raw as Record<string, unknown>)[META_KEY];
  if (metaRaw !== undefined) state.meta = readMeta(metaRaw, file);
  reconcileHandEdits(state, mtimeMs);
  return state;
}

function readMeta(m: unknown, file: string): Meta {
  const o = m as Partial<Meta> | null;
  if (!o || typeof o !== 'object' || typeof o.index !== 'number' || typeof o.keys !== 'object' || o.keys === null) {
    throw new KVError('KV_CORRUPT', `${file}: "${META_KEY}" is not this store's metadata (remove it to start the indexes afresh)`);
  }
  return {
    v: 1,
    index: o.index,
    tombstones: o.tombstones ?? {},
    floor: o.floor ?? 0,
    keys: o.keys,
    sessions: o.sessions ?? {},
    lockDelays: o.lockDelays ?? {},
  };
}

function reconcileHandEdits(state: State, mtimeMs: number): void {
  const { meta } = state;
  const edited = Math.max(meta.index + 1, Math.floor(mtimeMs));
  let changed = false;
  for (const [key, value] of state.values) {
    const km = meta.keys[key];
    if (!km) {
      // A hand-written file without metadata starts every key at index 1.
      const idx = meta.index === 1 && Object.keys(meta.keys).length === 0 ? 1 : edited;
      meta.keys[key] = { c: idx, m: idx, h: hashValue(value) };
      changed ||= idx !== 1;
    } else if (km.h !== hashValue(value)) {
      km.m = edited;
      km.h = hashValue(value);
      changed = true;
    }
  }
  for (const key of Object.keys(meta.keys)) {
    if (!state.values.has(key)) {
      delete meta.keys[key];
      meta.tombstones[key] = edited;
      changed = true;
    }
  }
  if (changed) meta.index = edited;
}

export function serializeState(state: State): string {
  const out: Record<string, unknown> = {};
  for (const key of [...state.values.keys()].sort()) out[key] = state.values.get(key);
  out[META_KEY] = state.meta;
  return `${JSON.stringify(out, null, 2)}\n`;
}

/** Release locks of sessions whose TTL ran out; true when anything changed. */
export function expireSessions(state: State, now: number): boolean {
  let changed = false;
  for (const [id, s] of Object.entries(state.meta.sessions)) {
    if (s.expires > now) continue;
    delete state.meta.sessions[id];
    const km = state.meta.keys[s.key];
    if (km?.s === id) {
      if (s.del) deleteValue(state, s.key);
      else delete km.s;
      if (s.lockDelayMs > 0) state.meta.lockDelays[s.key] = now + s.lockDelayMs;
    }
    changed = true;
  }
  for (const [key, until] of Object.entries(state.meta.lockDelays)) {
    if (until <= now) {
      delete state.meta.lockDelays[key];
      changed = true;
    }
  }
  return changed;
}

export function nextIndex(state: State): KVIndex {
  state.meta.index += 1;
  return state.meta.index;
}

export function setValue(state: State, key: string, value: string, flags: number | undefined): void {
  const idx = nextIndex(state);
  const prev = state.meta.keys[key];
  state.values.set(key, value);
  state.meta.keys[key] = { c: prev?.c ?? idx, m: idx, h: hashValue(value), ...(flags ? { f: flags } : prev?.f ? { f: prev.f } : {}), ...(prev?.s ? { s: prev.s } : {}) };
  delete state.meta.tombstones[key];
}

export function deleteValue(state: State, key: string): void {
  const idx = nextIndex(state);
  state.values.delete(key);
  delete state.meta.keys[key];
  state.meta.tombstones[key] = idx;
  const keys = Object.keys(state.meta.tombstones);
  if (keys.length > MAX_TOMBSTONES) {
    keys.sort((a, b) => (state.meta.tombstones[a] ?? 0) - (state.meta.tombstones[b] ?? 0));
    for (const k of keys.slice(0, keys.length - MAX_TOMBSTONES)) {
      state.meta.floor = Math.max(state.meta.floor, state.meta.tombstones[k] ?? 0);
      delete state.meta.tombstones[k];
    }
  }
}

function liveSession(state: State, id: string | undefined, now: number): string | undefined {
  if (!id) return undefined;
  const s = state.meta.sessions[id];
  return s && s.expires > now ? id : undefined;
}

export function pairOf(state: State, key: string, now: number): KVPair | undefined {
  const value = state.values.get(key);
  if (value === undefined) return undefined;
  const km = state.meta.keys[key];
  const session = liveSession(state, km?.s, now);
  // A key that goes with its session is gone once the session expired (the next write removes it).
  if (km?.s && !session && state.meta.sessions[km.s]?.del) return undefined;
  return {
    key,
    value,
    modifyIndex: km?.m ?? 1,
    createIndex: km?.c ?? 1,
    flags: km?.f ?? 0,
    ...(session ? { session } : {}),
  };
}

export function snapshotOf(state: State, prefix: string, now: number): { index: KVIndex; pairs: KVPair[] } {
  const pairs: KVPair[] = [];
  let index = Math.max(1, state.meta.floor);
  for (const key of [...state.values.keys()].filter((k) => k.startsWith(prefix)).sort()) {
    const p = pairOf(state, key, now);
    index = Math.max(index, p?.modifyIndex ?? state.meta.keys[key]?.m ?? 1);
    if (p) pairs.push(p);
  }
  for (const [key, idx] of Object.entries(state.meta.tombstones)) {
    if (key.startsWith(prefix)) index = Math.max(index, idx);
  }
  return { index, pairs };
}
