// Which live checker checks which tag: rendezvous (highest random weight) hashing, so a join or a
// death moves few tags, with a load cap so none holds more than its share plus LOAD_SLACK_PERCENT (plain
// HRW leaves one of 3 checkers with > 110 of 300 tags about one time in four). Hand-written (~30
// lines): no maintained npm package does HRW, let alone with a cap. A pure function of its inputs:
// every checker that sees the same members and tags computes the same answer.
import { createHash } from 'node:crypto';

/** A checker holds at most ceil(tags / members × (100 + LOAD_SLACK_PERCENT) / 100) tags. */
export const LOAD_SLACK_PERCENT = 10;

/** A member's weight for a tag: the first 48 bits of sha256(member NUL tag). */
function weight(member: string, tag: string): number {
  return createHash('sha256').update(member).update('\0').update(tag).digest().readUIntBE(0, 6);
}

/** The members in the order a tag prefers them: highest weight first (ties by id, never seen in practice). */
export function preference(tag: string, members: readonly string[]): string[] {
  return members
    .map((m) => ({ m, w: weight(m, tag) }))
    .sort((a, b) => b.w - a.w || (a.m < b.m ? -1 : 1))
    .map((x) => x.m);
}

/** Most tags one member holds. */
export function loadCap(tags: number, members: number, slackPercent = LOAD_SLACK_PERCENT): number {
  // Whole numbers until the last step: 300 tags over 3 is 110, not ceil(110.00000000000001).
  return members === 0 ? 0 : Math.max(1, Math.ceil((tags * (100 + slackPercent)) / (100 * members)));
}

/**
 * tag → member for every tag (none when there are no members): each tag, in name order, goes to
 * the member it prefers most that is still under the cap.
 */
export function assignTags(tags: readonly string[], members: readonly string[], slackPercent = LOAD_SLACK_PERCENT): Map<string, string> {
  const out = new Map<string, string>();
  const ids = [...new Set(members)].sort();
  const all = [...new Set(tags)].sort();
  const cap = loadCap(all.length, ids.length, slackPercent);
  const load = new Map(ids.map((m) => [m, 0]));
  for (const tag of ids.length ? all : []) {
    // cap × members ≥ tags, so some member is always under the cap.
    const owner = preference(tag, ids).find((m) => load.get(m)! < cap)!;
    load.set(owner, load.get(owner)! + 1);
    out.set(tag, owner);
  }
  return out;
}

/** The tags `me` checks among `members`. */
export function tagsOf(me: string, tags: readonly string[], members: readonly string[]): Set<string> {
  const mine = new Set<string>();
  for (const [tag, owner] of assignTags(tags, members)) if (owner === me) mine.add(tag);
  return mine;
}
