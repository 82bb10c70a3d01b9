// fleet's types, where the package starts: a bundle, its signature and its rollout, the keys an
// instance trusts. Imports nothing local; every other file points down to it.
import type { KeyObject } from 'node:crypto';

/** Path (conf.d/x.toml, templates/…) → content. */
export type BundleFiles = Record<string, string>;

/** One version of the shared configuration, as it is stored under haproxy/.config/bundle. */
export interface Bundle {
  version: number;
  /** sha256 over the sorted paths and contents. */
  checksum: string;
  /** Instance id of the pusher. */
  pushedBy: string;
  host: string;
  pushedAt: string;
  files: BundleFiles;
  /** The environment it was pushed for (push --environment); instances adopt only their own (--environment). */
  environment?: string;
  /** The pusher's Ed25519 signature over every other field (push --sign-key). */
  signature?: BundleSignature;
  /** A canary rollout (push --canary): who takes it first and how it is judged (signed with it). */
  rollout?: Rollout;
}

export type BundleInfo = Omit<Bundle, 'files'>;

/** A bundle's Ed25519 signature (push --sign-key). */
export interface BundleSignature {
  /** Ed25519. */
  alg: 'ed25519';
  /** sha256 of the signer's public key (DER), in hex: which key signed. */
  keyId: string;
  /** base64 signature over signedBytes(bundle). */
  sig: string;
}

/** A --trust-key file, read. */
export interface TrustedKey {
  file: string;
  keyId: string;
  key: KeyObject;
}

/** What an instance that takes a rollout bundle judges on its own HAProxy, after the judge window. */
export interface JudgeRules {
  /** How long after the change HAProxy's numbers are read (ms). */
  judgeMs: number;
  /** Errors per session (connection and response errors) may rise by at most this fraction (0.01: one point). */
  errorMargin: number;
  /** Fewer errors than this in the window are never judged a rise (a handful of resets is noise). */
  minErrors: number;
  /** Servers that were UP (or are new) and are DOWN after: at most this many (undefined: not judged; an emptied backend always is). */
  maxDown?: number;
  /** Listens (frontends) that served before and are gone after: at most this many. */
  allowGone: number;
}

/** Who takes the bundle first: these instance ids, or every instance started with this --instance-label. */
export type CanarySet = { ids: string[] } | { label: string };

/** The rollout part of a bundle (signed with it). */
export interface Rollout {
  canaries: CanarySet;
  judge: JudgeRules;
  /** Percentages of the other instances promoted one wave after another (the last is 100). */
  waves: number[];
}
