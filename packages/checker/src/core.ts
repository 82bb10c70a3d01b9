// The loop every checker shares: probe every target of a tag concurrently with hard timeouts,
// count successes and failures (retry-up / retry-down), let the kind choose an entry, and write it
// only when it changed, with CAS, and only while holding the tag's lock.
import { outageLog, withFields, type OutageLog } from '@confd-haproxy/kv';
import { entryKey, lockKey, parseEntry, type Entry } from '@confd-haproxy/schema';
import { HeartbeatLoop } from './heartbeat.js';
import { Counters, downsText } from './counters.js';
import { targetId as id } from './target.js';
import { STOPPED, targetsWithin, withTimeout } from './deadline.js';
import { decide, type Decision } from './decide.js';
import { LockKeeper } from './lock-keeper.js';
import type { CheckerLogger, Choice, FoundTargets, PassReport, ProbeResult, TagCheckerOptions, Target } from './types.js';

/** targets() answered the candidates alone, or with a context. */
function found<T extends Target, C>(r: T[] | FoundTargets<T, C>): FoundTargets<T, C | undefined> {
  return Array.isArray(r) ? { targets: r, context: undefined } : r;
}

/** A closed connection re-probes its server at once, but not more often than this (ms). */
export const REPROBE_MIN_GAP_MS = 50;

interface Reprobe {
  /** When the last re-probe of this target was started (ms). */
  last: number;
  timer: NodeJS.Timeout | undefined;
}

export class TagChecker<T extends Target = Target, P = unknown, C = unknown, D = unknown> {
  readonly key: string;
  readonly lockKey: string;
  readonly #o: TagCheckerOptions<T, P, C, D>;
  readonly #counters: Counters;
  readonly #lock: LockKeeper;
  /** The last pass that kept or wrote the entry found it unchanged: the "ok" line is info only when the state was not already ok. */
  #wasUnchanged = false;
  /** The store failing (lock, read, write): told once, counted while it lasts, told when it ends. */
  readonly #outage: OutageLog;
  readonly #log: CheckerLogger;
  /** Probes and target lookups in flight; stop() aborts them. */
  readonly #inFlight = new Set<AbortController>();
  /** Aborted by stop(): the loop's store calls end with it. */
  readonly #stopped = new AbortController();
  /** Passes and re-probes run one at a time: kinds keep per-pass state, and one of them writes. */
  #serial: Promise<unknown> = Promise.resolve();
  /** The last pass's targets: the ones a closed connection may re-probe. */
  #targets: T[] = [];
  /** What finding the last pass's targets learned, for the kind's choose (re-probes too). */
  #context: C | undefined;
  /** What the last pass's probes (and re-probes since) learned, for the kind's choose. */
  #probed = new Map<string, P>();
  readonly #reprobes = new Map<string, Reprobe>();
  /** run()'s onPass, told about re-probes too. */
  #onReport: ((r: PassReport<T, D>) => void) | undefined;
  /** Set while run() loops: only then does a closed connection re-probe. */
  #running = false;
  #wake: (() => void) | undefined;
  #lastParsed: { value: string; entry: Entry | undefined } | undefined;
  /** Whether no target may serve, as last told (undefined before the first pass). */
  #noHealthy: boolean | undefined;
  /** The target the stored entry points at after the last decision: the one the heartbeat asks. */
  #active: T | undefined;
  /** Set while run() loops with a heartbeat. */
  #heartbeat: HeartbeatLoop<T> | undefined;

  constructor(opts: TagCheckerOptions<T, P, C, D>) {
    this.#o = opts;
    this.key = entryKey(opts.kind.kind, opts.tag, opts.prefix);
    this.lockKey = lockKey(opts.kind.kind, opts.tag, opts.prefix);
    this.#counters = new Counters({ retryUp: opts.retryUp, retryDown: opts.retryDown });
    this.#log = withFields(opts.logger, { tag: opts.tag, key: this.key });
    this.#outage = outageLog(this.#log, `${opts.tag}: store ${opts.store.describe}`);
    this.#lock = new LockKeeper({
      tag: opts.tag,
      key: this.lockKey,
      store: opts.store,
      holder: opts.checker,
      ttlMs: opts.lockTtlMs,
      lockDelayMs: opts.lockDelayMs ?? 0,
      noLock: opts.noLock === true,
      log: this.#log,
      logger: opts.logger,
      outage: this.#outage,
    });
    opts.kind.onConnectionLost?.((target, reason) => this.#connectionLost(target, reason));
  }

  get tag(): string {
    return this.#o.tag;
  }

  /** True while this checker may write: it holds the lock and its last renew succeeded. */
  get holder(): boolean {
    return this.#lock.mayWrite;
  }

  get lockTtlMs(): number {
    return this.#o.lockTtlMs;
  }

  /** Take the lock, or renew it when TTL/4 has passed since the last renew; true while held. */
  keepLock(): Promise<boolean> {
    return this.#lock.keep();
  }

  /** The stored entry, parsed once per value (the same value comes back on every steady pass). */
  #parsed(value: string | undefined): Entry | undefined {
    if (value === undefined) return undefined;
    if (this.#lastParsed?.value !== value) this.#lastParsed = { value, entry: parseEntry(value) };
    return this.#lastParsed.entry;
  }

  /** Count one probe and say so at debug level. */
  #record(target: T, result: ProbeResult, what = ''): void {
    const o = this.#o;
    const c = this.#counters.record(target, result.ok, result.reason ?? 'failed');
    const log = withFields(this.#log, { server: id(target), durationMs: result.ms });
    if (result.ok) log.debug(`${o.tag}: ${what}${id(target)} ok in ${result.ms} ms${c.eligible ? '' : ` (${c.ups} of ${o.retryUp} before it serves again)`}`);
    else log.debug(`${o.tag}: ${what}${id(target)} failed (${result.reason}); ${c.downs} in a row`);
  }

  /** Probe within the deadline; what the probe learned is kept for choose, the result goes in the report. */
  async #probe(target: T): Promise<ProbeResult> {
    const { data, ...result } = await withTimeout(this.#o.timeoutMs, this.#inFlight, (s) => this.#o.kind.probe(target, s));
    if (data !== undefined) this.#probed.set(id(target), data);
    return result;
  }

  /** Run fn after the pass or re-probe before it has finished. */
  #exclusive<R>(fn: () => Promise<R>): Promise<R> {
    const p = this.#serial.then(fn, fn);
    this.#serial = p.catch(() => undefined);
    return p;
  }

  /**
   * One pass: probe, count, choose, and write when the entry changed and we hold the lock. The
   * signal aborts the pass's probes and store calls (one listener for the whole pass).
   */
  pass(signal?: AbortSignal): Promise<PassReport<T, D>> {
    if (!signal) return this.#exclusive(() => this.#pass(this.#stopped.signal));
    const abort = () => {
      for (const ac of this.#inFlight) ac.abort(STOPPED);
    };
    return this.#exclusive(async () => {
      signal.addEventListener('abort', abort, { once: true });
      try {
        return await this.#pass(signal);
      } finally {
        signal.removeEventListener('abort', abort);
      }
    });
  }

  /**
   * List, probe every target, decide. After a failed heartbeat (`failed`), that target's result is
   * the heartbeat's (it is not asked again) and the others are probed afresh, so the choice is made
   * from what they say now (a replica promoted meanwhile).
   */
  async #pass(signal: AbortSignal, failed?: { target: T; result: ProbeResult }): Promise<PassReport<T, D>> {
    const o = this.#o;
    const trigger = failed ? 'heartbeat' : 'interval';
    let targets: T[];
    try {
      ({ targets, context: this.#context } = found(await targetsWithin(o.timeoutMs, this.#inFlight, (s) => o.kind.targets(s))));
    } catch (err) {
      return this.#report(trigger, { results: [], eligible: [], entry: undefined, wrote: false, holder: this.holder, reason: `cannot list targets: ${(err as Error).message}` });
    }
    this.#targets = targets;
    this.#probed = new Map();
    const given = (t: T) => (failed && id(t) === id(failed.target) ? failed.result : undefined);
    const results = await Promise.all(targets.map(async (target) => ({ target, result: given(target) ?? (await this.#probe(target)) })));
    for (const { target, result } of results) this.#record(target, result, given(target) ? 'heartbeat: ' : '');
    return this.#decide(targets, results, signal, trigger);
  }

  /** A kept connection closed: probe that target again now (at most every REPROBE_MIN_GAP_MS). */
  #connectionLost(target: Target, reason: string): void {
    if (!this.#running || this.#stopped.signal.aborted) return;
    const k = id(target);
    const known = this.#targets.find((x) => id(x) === k);
    if (!known) return;
    let slot = this.#reprobes.get(k);
    if (!slot) this.#reprobes.set(k, (slot = { last: -Infinity, timer: undefined }));
    if (slot.timer) return;
    withFields(this.#log, { server: k }).debug(`${this.#o.tag}: the connection to ${k} closed (${reason}); probing it again`);
    const due = slot;
    due.timer = setTimeout(() => {
      due.timer = undefined;
      if (this.#stopped.signal.aborted) return;
      due.last = Date.now();
      this.#exclusive(() => this.#reprobe(known)).then((r) => this.#onReport?.(r), () => {});
    }, Math.max(0, due.last + REPROBE_MIN_GAP_MS - Date.now()));
  }

  /** One target probed again; a failure counts as any other (retry-down holds), and the entry is decided at once. */
  async #reprobe(target: T): Promise<PassReport<T, D>> {
    const result = await this.#probe(target);
    this.#record(target, result, 're-probe after a closed connection: ');
    return this.#decide(this.#targets, [{ target, result }], this.#stopped.signal, 'connection-lost');
  }

  /** The heartbeat to the active server, while this checker holds the tag; none without one. */
  #heartbeatLoop(periodMs: number): HeartbeatLoop<T> | undefined {
    const kind = this.#o.kind;
    if (!periodMs || !kind.heartbeat) return undefined;
    return new HeartbeatLoop<T>({
      periodMs,
      timeoutMs: this.#o.timeoutMs,
      send: (signal) => {
        const target = this.#active;
        if (!target || !this.holder || this.#stopped.signal.aborted) return undefined;
        return { target, answer: kind.heartbeat!(target, signal) };
      },
      // A failure counts as a failed probe of it (retry-down holds) and starts a pass at once; a success counts nothing.
      failed: async (target, result) => {
        if (this.#stopped.signal.aborted) return;
        // Not inside onReport?.(…): without an onPass the pass would never run.
        const report = await this.#pass(this.#stopped.signal, { target, result });
        this.#onReport?.(report);
      },
      exclusive: (fn) => this.#exclusive(fn),
    });
  }

  #report(trigger: PassReport<T>['trigger'], r: Omit<PassReport<T, D>, 'tag' | 'key' | 'healthy' | 'chosen' | 'trigger'>): PassReport<T, D> {
    // A report without an entry (the store did not answer) leaves the heartbeat where it was.
    const e = r.entry;
    if (e) this.#active = this.#targets.find((t) => t.host === e.host && t.port === e.port);
    return {
      tag: this.#o.tag,
      key: this.key,
      ...r,
      healthy: r.results.filter((x) => x.result.ok).map((x) => x.target),
      chosen: r.entry ? { host: r.entry.host, port: r.entry.port } : undefined,
      trigger,
    };
  }

  /** Choose from the counters, and write when the entry changed and we hold the lock. */
  async #decide(targets: T[], results: PassReport<T>['results'], signal: AbortSignal, trigger: PassReport<T>['trigger']): Promise<PassReport<T, D>> {
    const o = this.#o;
    /** The kind's answer once it was asked: every report after that carries it. */
    let choice: Choice<D> | undefined;
    const report = (r: Omit<PassReport<T, D>, 'tag' | 'key' | 'healthy' | 'chosen' | 'trigger' | 'choice'>) => this.#report(trigger, { ...r, ...(choice ? { choice } : {}) });
    const eligible = this.#counters.eligible(targets);
    this.#tellHealth(targets, eligible);
    const holder = await this.keepLock();
    for (let attempt = 0; attempt < 3; attempt++) {
      let stored;
      try {
        stored = await o.store.get(this.key, { signal });
      } catch (err) {
        if (!signal.aborted) this.#outage.failed(err, `cannot read ${this.key} (${(err as Error).message})`);
        return report({ results, eligible, entry: undefined, wrote: false, holder, reason: `cannot read ${this.key}: ${(err as Error).message}` });
      }
      this.#outage.ok();
      const current = this.#parsed(stored?.value);
      choice = o.kind.choose({ eligible, current, all: targets, probed: this.#probed, context: this.#context });
      // mayWrite is read here, after the read and right before the put: a renew that failed meanwhile stops the write.
      const d = decide({
        stored: current,
        choice,
        anyEligible: eligible.length > 0,
        mayWrite: this.holder,
        wasUnchanged: this.#wasUnchanged,
        checker: o.checker,
        updated: (o.now?.() ?? new Date()).toISOString(),
        failures: () => this.#counters.failures(targets),
      });
      if (d.action !== 'write') {
        this.#tellKept(d);
        if (d.action === 'keep' && d.confirmed) this.#wasUnchanged = true;
        return report({ results, eligible, entry: d.entry, wrote: false, holder: d.action === 'standby' ? false : holder, reason: d.reason });
      }
      const entry = d.entry;
      let ok: boolean;
      try {
        ok = await o.store.put(this.key, JSON.stringify(entry), { cas: stored?.modifyIndex ?? 0, signal });
      } catch (err) {
        if (!signal.aborted) this.#outage.failed(err, `cannot write ${this.key} (${(err as Error).message})`);
        return report({ results, eligible, entry: current, wrote: false, holder, reason: `cannot write ${this.key}: ${(err as Error).message}` });
      }
      if (ok) {
        const changed = withFields(this.#log, { server: id(entry), outcome: 'changed' });
        changed.info(this.#why(current, entry, results));
        changed.info(o.kind.changedLine?.(entry, current) ?? `${o.tag}: set ${entry.host}:${entry.port}`);
        this.#wasUnchanged = false;
        return report({ results, eligible, entry, wrote: true, holder, reason: d.reason });
      }
      o.logger.debug(`${o.tag}: ${this.key} changed under us (CAS); reading it again`);
    }
    return report({ results, eligible, entry: undefined, wrote: false, holder, reason: 'CAS kept failing' });
  }

  /**
   * A tag with no server that may serve is told once, at error, naming each server and why it
   * failed; its recovery once, at info. Nothing is said on the passes in between.
   */
  #tellHealth(targets: T[], eligible: T[]): void {
    const none = eligible.length === 0;
    if (none === this.#noHealthy) return;
    const first = this.#noHealthy === undefined;
    this.#noHealthy = none;
    const log = withFields(this.#log, { outcome: none ? 'no-healthy-server' : 'healthy', ...(none ? { code: 'NO_HEALTHY_SERVER' } : {}) });
    if (none) log.error(`${this.#o.tag}: no healthy server: ${this.#counters.failures(targets)}`);
    else if (!first) log.info(`${this.#o.tag}: healthy again: ${eligible.map(id).join(', ')}`);
  }

  /** The entry stays: the ok line (info when the state becomes ok, debug on each steady pass), or a refused entry at error. */
  #tellKept(d: Exclude<Decision, { action: 'write' }>): void {
    const o = this.#o;
    if (d.action === 'keep' && d.confirmed && d.entry && d.logLevel !== 'silent') {
      const line = o.kind.okLine?.(d.entry, o.store.backend) ?? `${o.tag} in store is ok`;
      withFields(this.#log, { server: id(d.entry), outcome: 'unchanged' })[d.logLevel](line);
    } else if (d.action === 'refuse') {
      withFields(this.#log, { code: 'ENTRY_REFUSED', err: { message: d.problem } }).error(`${o.tag}: refusing to write a bad entry to ${this.key}: ${d.problem}`);
    }
  }

  /** Why the entry moves, in one line: "mem1: 127.0.0.1:11211 failed (connection refused, 2 of 2) → active 127.0.0.2:11211". */
  #why(current: Entry | undefined, next: Entry, results: { target: T; result: ProbeResult }[]): string {
    const o = this.#o;
    const to = `active ${id(next)}`;
    if (!current) return `${o.tag}: no entry yet → ${to}`;
    if (current.host === next.host && current.port === next.port) return `${o.tag}: ${id(current)} stays active; its entry changed (servers, weights or roles)`;
    const was = results.find((x) => x.target.host === current.host && x.target.port === current.port);
    const c = this.#counters.get(current);
    if (!was) return `${o.tag}: ${id(current)} is no longer a candidate → ${to}`;
    if (!was.result.ok) return `${o.tag}: ${id(current)} failed (${was.result.reason ?? 'failed'}, ${downsText(c?.downs ?? 1, o.retryDown)}) → ${to}`;
    return `${o.tag}: ${id(current)} is healthy but ${id(next)} is preferred → ${to}`;
  }

  /** Give the lock up (SIGTERM): a standby may take over at once. */
  release(): Promise<void> {
    return this.#lock.release();
  }

  /** End run()'s loop: wake its wait, abort probes in flight, cancel pending re-probes. */
  stop(): void {
    this.#stopped.abort(STOPPED);
    for (const ac of this.#inFlight) ac.abort(STOPPED);
    for (const slot of this.#reprobes.values()) clearTimeout(slot.timer);
    this.#heartbeat?.stop();
    this.#wake?.();
  }

  #nap(ms: number): Promise<void> {
    return new Promise<void>((done) => {
      if (this.#stopped.signal.aborted) return done();
      const finish = () => {
        clearTimeout(timer);
        this.#wake = undefined;
        done();
      };
      const timer = setTimeout(finish, ms);
      this.#wake = finish;
    });
  }

  /**
   * Passes every intervalMs until stop(), renewing the lock every TTL/3 in between (so an interval
   * longer than the TTL keeps it), and a re-probe whenever a kept connection closes; then close().
   */
  async run(opts: { intervalMs: number; onPass?: (r: PassReport<T, D>) => void }): Promise<void> {
    const renew = setInterval(() => {
      if (this.holder) void this.keepLock();
    }, Math.max(50, Math.floor(this.lockTtlMs / 3)));
    this.#onReport = opts.onPass;
    this.#running = true;
    // Heartbeats run between passes, never beside one: the kinds keep one connection per server.
    this.#heartbeat = this.#heartbeatLoop(this.#o.heartbeatMs ?? 0);
    this.#heartbeat?.start();
    try {
      while (!this.#stopped.signal.aborted) {
        const started = Date.now();
        const report = await this.#exclusive(() => this.#pass(this.#stopped.signal));
        opts.onPass?.(report);
        await this.#nap(Math.max(0, opts.intervalMs - (Date.now() - started)));
      }
    } finally {
      clearInterval(renew);
      this.#heartbeat?.stop();
      this.#running = false;
      this.#onReport = undefined;
      await this.close();
    }
  }

  /** Release the lock and the kind's connections; the checker takes no lock afterwards. */
  async close(): Promise<void> {
    this.#lock.close();
    this.stop();
    await this.#serial.catch(() => undefined);
    await this.release();
    await this.#o.kind.close?.();
  }
}
