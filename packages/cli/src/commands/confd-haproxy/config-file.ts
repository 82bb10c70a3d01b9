// confd's confd.toml (--config-file): its values fill what the command line left at its default.
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { parse as parseToml } from 'smol-toml';
import { userSet } from '../../argv.js';
import { UsageError } from '../../common.js';
import { CONFD_BACKENDS, CONFD_TOML_RENAMED, CONFD_TOML_SETTINGS, type SettingType } from '../../confd-toml.js';
import type { Flags } from './flags.js';

const typeName = (v: unknown) => (Array.isArray(v) ? 'an array' : typeof v === 'object' && v !== null ? 'a table' : `a ${typeof v}`);

/** One setting checked against its type; the flag's value (a duration as a string). */
function settingValue(file: string, key: string, v: unknown, type: SettingType): unknown {
  const ok =
    type === 'strings' ? Array.isArray(v) && v.every((x) => typeof x === 'string') : type === 'duration' ? typeof v === 'string' || (typeof v === 'number' && v >= 0) : typeof v === type;
  const want = type === 'strings' ? 'an array of strings' : type === 'duration' ? 'a duration (a number of seconds or a string such as "1m30s")' : `a ${type}`;
  if (!ok) throw new UsageError(`${file}: ${key} must be ${want}, not ${typeName(v)} (${JSON.stringify(v)})`);
  return typeof v === 'number' ? String(v) : v;
}

/** confd's confd.toml: values fill what the command line left at its default. */
export function applyConfigFile(flags: Flags, cmd: Command): Flags {
  if (!flags.configFile) return flags;
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(readFileSync(flags.configFile, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new UsageError(`${flags.configFile}: ${(err as Error).message}`);
  }
  const out: Flags = { ...flags };
  for (const [given, v] of Object.entries(doc)) {
    // confd 0.17's own file works as it is: its spellings (log-level, sync-only), its backend names (etcdv3), its file list.
    const k = CONFD_TOML_RENAMED[given] ?? given;
    const setting = CONFD_TOML_SETTINGS[k] as [string, SettingType] | undefined;
    if (!setting) throw new UsageError(`${flags.configFile}: unknown setting "${given}"`);
    const [name, type] = setting;
    const confdValue = k === 'backend' && typeof v === 'string' ? (CONFD_BACKENDS[v] ?? v) : v;
    const value = settingValue(flags.configFile, given, confdValue, k === 'file' && Array.isArray(v) ? 'strings' : type);
    if (userSet(cmd, name)) continue;
    (out as unknown as Record<string, unknown>)[name] = value;
  }
  return out;
}
