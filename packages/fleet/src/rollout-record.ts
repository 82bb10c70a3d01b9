// The rollout record in the store (haproxy/.config/rollout): signed by the pusher like a bundle,
// checked by the instances against their --trust-key before it promotes them.
import type { KeyObject } from 'node:crypto';
import type { KVReader, KVWriter } from '@confd-haproxy/kv';
import { parseRolloutRecord, recordSignedBytes, ROLLOUT_KEY, type RolloutRecord } from './rollout.js';
import { signatureOf, signatureProblem, type TrustedKey } from './trust.js';

/** The record with the pusher's signature (unsigned without a key). */
export function signRecord(r: Omit<RolloutRecord, 'signature'>, key: KeyObject | undefined): RolloutRecord {
  return key ? { ...r, signature: signatureOf(recordSignedBytes(r), key) } : { ...r };
}

/** Why a record is not signed by a trusted key (undefined: it is, or no --trust-key is given). */
export function recordTrustProblem(r: RolloutRecord, trusted: readonly TrustedKey[]): string | undefined {
  if (!trusted.length) return undefined;
  const { signature, ...unsigned } = r;
  return signatureProblem(signature, () => recordSignedBytes(unsigned), trusted, 'the rollout record');
}

/** The record in a stored value, or why it is not one. */
export function rolloutFromValue(value: string | undefined): { record?: RolloutRecord; problem?: string } {
  if (value === undefined) return {};
  try {
    return { record: parseRolloutRecord(value) };
  } catch (err) {
    return { problem: (err as Error).message };
  }
}

export async function readRollout(store: KVReader, signal?: AbortSignal): Promise<{ record?: RolloutRecord; problem?: string }> {
  const pair = await store.get(ROLLOUT_KEY, signal ? { signal } : {});
  return rolloutFromValue(pair?.value);
}

export async function writeRollout(store: KVWriter, r: RolloutRecord): Promise<void> {
  await store.put(ROLLOUT_KEY, JSON.stringify(r));
}
