// checkmemcached's one error, and the words for a SASL problem or a socket error that the log and
// --once share.
import { codedErrorClass } from '@confd-haproxy/base';
import { targetId } from '@confd-haproxy/checker';
import type { MemcachedChoiceDetail, SaslProblem } from './types.js';

export type MemcachedErrorCode =
  /** A server refused the SASL login, or needs one and none is set: bad configuration, exit 65. */
  'MEMCACHED_SASL';

export class MemcachedError extends codedErrorClass<MemcachedErrorCode>('MemcachedError', ['MEMCACHED_SASL']) {}

/**
 * A probe's reason for a failed connection, in an operator's words: Node's own texts ("This socket
 * has been ended by the other party") say little. EPIPE and ECONNRESET are a kept connection that
 * died under the request (a killed server) before its close was seen.
 */
export function socketReason(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ECONNREFUSED') return 'connection refused';
  if (code === 'EPIPE' || code === 'ECONNRESET') return `connection closed (${code})`;
  return err instanceof Error ? err.message : String(err);
}

/** A probe's reason for a SASL problem. */
export function saslReason(problem: SaslProblem, user?: string): string {
  return problem === 'refused' ? `SASL authentication failed for user "${user ?? ''}"` : 'the server requires SASL authentication (memcached -S) and no SASL user is set';
}

/** The servers of a pass that have a SASL problem, as one error naming each (and what to do: `hint`); undefined when none has. */
export function saslError(tag: string, detail: MemcachedChoiceDetail | undefined, opts: { user?: string; hint?: string } = {}): MemcachedError | undefined {
  if (!detail?.sasl.length) return undefined;
  const each = detail.sasl.map(({ target, problem }) => `${targetId(target)}: ${saslReason(problem, opts.user)}`);
  return new MemcachedError('MEMCACHED_SASL', `${tag}: ${each.join('; ')}${opts.hint ? ` (${opts.hint})` : ''}`);
}
