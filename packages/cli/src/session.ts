// What one run of confd-haproxy holds while a subcommand runs: its streams, its signals, and what
// must be closed at the end. Every subcommand file takes it from here.
import type { Server } from 'node:http';
import type { KVStore } from '@confd-haproxy/kv';
import type { CommandIO } from './common.js';
import type { Signals } from './signals.js';

export interface Session {
  readonly io: CommandIO;
  readonly signals: Signals;
  store?: KVStore;
  observer?: Server;
}
