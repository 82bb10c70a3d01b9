// The fields of a catalog or agent registration body, decoded as Consul decodes them: a wrong type
// is a 400 "Request decode failed", a missing field its default.
import { bad } from '../api-error.js';
import type { CheckStatus, Json, Service } from './tables.js';

const STATUSES = new Set<string>(['passing', 'warning', 'critical']);

export const str = (v: unknown, what: string): string => {
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') throw bad(`Request decode failed: ${what} must be a string`);
  return v;
};
export const strMap = (v: unknown, what: string): Record<string, string> | null => {
  if (v === undefined || v === null) return null;
  if (typeof v !== 'object' || Array.isArray(v) || !Object.values(v).every((x) => typeof x === 'string')) {
    throw bad(`Request decode failed: ${what} must be a map of strings`);
  }
  return { ...(v as Record<string, string>) };
};
const strList = (v: unknown, what: string): string[] | null => {
  if (v === undefined || v === null) return null;
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw bad(`Request decode failed: ${what} must be a list of strings`);
  return [...(v as string[])];
};
const port = (v: unknown): number => {
  if (v === undefined || v === null) return 0;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 65535) throw bad('Request decode failed: Port must be a whole number 0..65535');
  return v;
};
const weights = (v: unknown): { Passing: number; Warning: number } => {
  if (v === undefined || v === null) return { Passing: 1, Warning: 1 };
  const w = v as { Passing?: unknown; Warning?: unknown };
  const passing = w.Passing ?? 1;
  const warning = w.Warning ?? 1;
  if (typeof passing !== 'number' || typeof warning !== 'number') throw bad('Request decode failed: Weights must hold numbers');
  if (passing < 1) throw bad('Passing must be greater than 0');
  if (warning < 0) throw bad('Warning must be greater or equal than 0');
  return { Passing: passing, Warning: warning };
};
export const status = (v: unknown, dflt: CheckStatus): CheckStatus => {
  if (v === undefined || v === null || v === '') return dflt;
  if (typeof v !== 'string' || !STATUSES.has(v)) throw bad(`Invalid check status: "${String(v)}"`);
  return v as CheckStatus;
};

/** The `Check` and `Checks` of a body, in that order. */
export const checkBodies = (body: Json): Json[] => [...(body.Check ? [body.Check] : []), ...(Array.isArray(body.Checks) ? body.Checks : [])] as Json[];

/** A service of a registration body (`Service`, else `Name`), on `node`. */
export function serviceFrom(b: Json, node: string): Omit<Service, 'createIndex' | 'modifyIndex'> {
  const name = str(b.Service ?? b.Name, 'Service');
  return {
    node,
    id: str(b.ID, 'ID') || name,
    service: name,
    tags: strList(b.Tags, 'Tags'),
    address: str(b.Address, 'Address'),
    meta: strMap(b.Meta, 'Meta'),
    port: port(b.Port),
    weights: weights(b.Weights),
    enableTagOverride: b.EnableTagOverride === true,
  };
}
