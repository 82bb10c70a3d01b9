/** Go-style durations as Consul takes them: "10s", "1m30s", "500ms", "1.5h"; a bare number is seconds. */
// Not `ms`: it cannot read compound durations ("1m30s") and takes a bare number as milliseconds.
export function parseGoDuration(text: string): number | undefined {
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  const units: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let total = 0;
  let pos = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text))) {
    total += Number(m[1]) * units[m[2]!]!;
    pos = re.lastIndex;
  }
  return pos === text.length && pos > 0 ? total : undefined;
}

/** Consul's session LockDelay: a duration string, or a number (below 1000: seconds, else nanoseconds). */
export function parseLockDelay(value: unknown): number | undefined {
  if (value === undefined || value === null) return 15_000;
  if (typeof value === 'number') return value < 1000 ? value * 1000 : value / 1e6;
  if (typeof value === 'string') return parseGoDuration(value);
  return undefined;
}

/** A duration as Go's time.Duration.String() writes it, the way Consul's messages show one: "10s", "500ms", "24h0m0s". */
export function formatGoDuration(ms: number): string {
  const ns = Math.round(ms * 1e6);
  if (ns === 0) return '0s';
  if (ns < 1e9) {
    const [size, unit] = ns < 1e3 ? [1, 'ns'] : ns < 1e6 ? [1e3, 'µs'] : [1e6, 'ms'];
    return `${decimal(ns / size)}${unit}`;
  }
  const h = Math.floor(ns / 3.6e12);
  const m = Math.floor((ns % 3.6e12) / 6e10);
  const s = `${decimal((ns % 6e10) / 1e9)}s`;
  return h ? `${h}h${m}m${s}` : m ? `${m}m${s}` : s;
}

/** Up to nine decimals, trailing zeros dropped, as Go prints the fraction of a unit. */
const decimal = (n: number): string => n.toFixed(9).replace(/\.?0+$/, '');
