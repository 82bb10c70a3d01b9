// A target's identity: "host:port" names it in the counters, the probe data and the logs, and two
// targets are the same server when host and port are equal. Every kind uses these two.
import type { Target } from './types.js';

/** "host:port": a target's name in the counters, the probe data and the logs. */
export const targetId = (t: Target) => `${t.host}:${t.port}`;

/** The same server: equal host and port (an entry, a server line or a Target). */
export const sameTarget = (a: Target, b: Target) => a.host === b.host && a.port === b.port;
