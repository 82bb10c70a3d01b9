import t from 'tap';
import { assignTags, loadCap, preference, readMembers, tagListDigest, tagsOf } from '@confd-haproxy/checker';

const TAGS = Array.from({ length: 300 }, (_, i) => `slave${3000 + i}`);
/** Member ids as the bins make them ("host:pid"), different in every trial. */
const members = (trial: number, n: number) => Array.from({ length: n }, (_, i) => `check-${i}.example:${10_000 + trial * 13 + i}`);

const counts = (a: Map<string, string>) => {
  const c = new Map<string, number>();
  for (const owner of a.values()) c.set(owner, (c.get(owner) ?? 0) + 1);
  return c;
};
const moved = (a: Map<string, string>, b: Map<string, string>) => [...a].filter(([tag, owner]) => b.get(tag) !== owner).map(([tag]) => tag);

t.test('300 tags over 3 checkers: each holds at most 110, in every one of 200 member sets', async (t) => {
  let most = 0;
  for (let trial = 0; trial < 200; trial++) {
    const a = assignTags(TAGS, members(trial, 3));
    t.equal(a.size, 300, 'every tag has an owner');
    most = Math.max(most, ...counts(a).values());
  }
  t.ok(most <= 110, `the busiest checker of all trials held ${most}`);
  t.equal(loadCap(300, 3), 110, 'the cap is the share plus 10 %, in whole numbers');
  t.equal(loadCap(300, 4), 83);
  t.equal(loadCap(1, 3), 1, 'one tag and three checkers: one holds it');
});

t.test('every checker computes the same answer, whatever order it lists the members and tags in', async (t) => {
  const m = members(1, 3);
  const a = assignTags(TAGS, m);
  t.same([...assignTags([...TAGS].reverse(), [...m].reverse())].sort(), [...a].sort());
  const parts = m.map((me) => tagsOf(me, TAGS, m));
  t.equal(parts.reduce((n, p) => n + p.size, 0), 300, 'the three shares add up to every tag, each once');
  t.same(new Set(parts.flatMap((p) => [...p])).size, 300);
});

t.test('a checker that dies: its tags move, and the others keep nearly all of theirs', async (t) => {
  for (let trial = 0; trial < 50; trial++) {
    const m = members(trial, 3);
    const before = assignTags(TAGS, m);
    const after = assignTags(TAGS, m.slice(0, 2));
    const gone = moved(before, after);
    const itsOwn = [...before].filter(([, o]) => o === m[2]).map(([tag]) => tag);
    t.ok(itsOwn.every((tag) => gone.includes(tag)), 'every tag of the dead checker moves');
    // The load cap rises from 110 to 165: a few tags that had spilled go back to the checker they prefer.
    t.ok(gone.length - itsOwn.length <= 15, `trial ${trial}: ${gone.length - itsOwn.length} more than its ${itsOwn.length} moved`);
    t.ok(Math.max(...counts(after).values()) <= loadCap(300, 2));
  }
});

t.test('a fourth checker joins: it takes about a quarter, taken from the others, and few other tags move', async (t) => {
  for (let trial = 0; trial < 50; trial++) {
    const m = members(trial, 4);
    const before = assignTags(TAGS, m.slice(0, 3));
    const after = assignTags(TAGS, m);
    const gone = moved(before, after);
    const itsShare = [...after].filter(([, o]) => o === m[3]).length;
    t.ok(itsShare >= 60 && itsShare <= 83, `trial ${trial}: the new one holds ${itsShare}`);
    t.ok(gone.length - itsShare <= 15, `trial ${trial}: ${gone.length - itsShare} moved between the old three`);
  }
});

t.test('without the load cap one checker of three would hold more than 110 of 300 tags in some member sets', async (t) => {
  // The reason for the cap: plain rendezvous hashing (a cap of every tag) is binomial, sd ≈ 8 tags.
  let over = 0;
  for (let trial = 0; trial < 200; trial++) if (Math.max(...counts(assignTags(TAGS, members(trial, 3), 200)).values()) > 110) over++;
  t.ok(over > 0, `${over} of 200 member sets over 110 without the cap`);
});

t.test('no members: no owner; one member: it holds everything', async (t) => {
  t.equal(assignTags(TAGS, []).size, 0);
  t.equal(tagsOf('a:1', TAGS, ['a:1']).size, 300);
  t.same(new Set(preference('slave3001', ['a:1', 'b:2', 'c:3'])).size, 3, 'a tag ranks every member');
});

t.test('the members under the prefix: peers share this tag list, strangers have another, junk is a stranger', async (t) => {
  const prefix = 'haproxy/.checkers/mysqlslave/';
  const digest = tagListDigest(['b', 'a']);
  t.equal(digest, tagListDigest(['a', 'b', 'a']), 'the digest ignores order and repeats');
  const pair = (id: string, value: string) => ({ key: `${prefix}${id}`, value, modifyIndex: 1, createIndex: 1, flags: 0 });
  const view = readMembers(
    [
      pair('h2:2', JSON.stringify({ checker: 'h2:2', tags: digest, count: 2 })),
      pair('h1:1', JSON.stringify({ checker: 'h1:1', tags: digest, count: 2 })),
      pair('h3:3', JSON.stringify({ checker: 'h3:3', tags: tagListDigest(['a']), count: 1 })),
      pair('h4:4', 'not json'),
      pair('deeper/h5:5', JSON.stringify({ checker: 'h5:5', tags: digest, count: 2 })),
    ],
    prefix,
    digest,
  );
  t.same(view, { peers: ['h1:1', 'h2:2'], strangers: ['h3:3', 'h4:4'] });
});
