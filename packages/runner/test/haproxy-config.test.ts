import t from 'tap';
import { changeSummary, describeChange, parseConfig } from '@confd-haproxy/runner';

const listen = (name: string, servers: string[], bind = 13306) => `listen ${name}\n    bind 0.0.0.0:${bind}\n${servers.map((s) => `    ${s}\n`).join('')}`;
const cfg = (...proxies: string[]) => `global\n    maxconn 100\ndefaults\n    mode tcp\n${proxies.join('')}`;

t.test('a failover names each server that moved, from where to where', async (t) => {
  const before = cfg(listen('db', ['server db-0 10.0.0.1:3306 check', 'server db-1 10.0.0.2:3306 check backup']));
  const after = cfg(listen('db', ['server db-0 10.0.0.2:3306 check', 'server db-1 10.0.0.1:3306 check backup']));
  const c = describeChange(before, after);
  t.same(c, { proxiesAdded: [], proxiesRemoved: [], servers: [{ proxy: 'listen db', added: [], removed: [], changed: ['db-0 10.0.0.1:3306 → 10.0.0.2:3306', 'db-1 10.0.0.2:3306 → 10.0.0.1:3306'] }], other: false });
  t.equal(changeSummary(c), 'listen db: server db-0 10.0.0.1:3306 → 10.0.0.2:3306, server db-1 10.0.0.2:3306 → 10.0.0.1:3306');
});

t.test('servers added and removed, and options changed, are told apart', async (t) => {
  const before = cfg(listen('db', ['server db-0 10.0.0.1:3306 check', 'server db-1 10.0.0.2:3306 check']));
  const after = cfg(listen('db', ['server db-0 10.0.0.1:3306 check backup', 'server db-2 [::1]:3306 check']));
  t.equal(changeSummary(describeChange(before, after)), 'listen db: +server db-2 [::1]:3306, -server db-1 10.0.0.2:3306, server db-0 10.0.0.1:3306 (options "check" → "check backup")');
});

t.test('listens added and removed are named; the servers inside them are not listed again', async (t) => {
  const before = cfg(listen('a', ['server a-0 10.0.0.1:1']), listen('b', ['server b-0 10.0.0.1:2'], 2));
  const after = cfg(listen('a', ['server a-0 10.0.0.1:1']), listen('c', ['server c-0 10.0.0.1:3'], 3));
  const c = describeChange(before, after);
  t.same([c.proxiesAdded, c.proxiesRemoved, c.servers, c.other], [['listen c'], ['listen b'], [], false]);
  t.equal(changeSummary(c), 'listen c added; listen b removed');
});

t.test('a change outside server lines and proxies is told as other settings', async (t) => {
  const before = cfg(listen('a', ['server a-0 10.0.0.1:1']));
  t.equal(changeSummary(describeChange(before, before.replace('maxconn 100', 'maxconn 200'))), 'other settings changed');
  t.equal(changeSummary(describeChange(before, before.replace('bind 0.0.0.0:13306', 'bind 0.0.0.0:13307'))), 'other settings changed');
  t.equal(changeSummary(describeChange(before, `${before}# a comment\n`)), '', 'a comment is no change of note');
});

t.test('an applied change reads each file once: the plan and the summary share the parse', async (t) => {
  const before = 'listen a\n  server a1 10.0.0.1:80\n';
  const after = 'listen a\n  server a1 10.0.0.2:80\n';
  const first = parseConfig(after);
  t.equal(parseConfig(after), first, 'the same text gives the same parse, not a second read');
  t.equal(parseConfig(['listen a', '  server a1 10.0.0.2:80', ''].join('\n')), first, 'an equal text built apart too');
  t.equal(changeSummary(describeChange(before, after)), 'listen a: server a1 10.0.0.1:80 → 10.0.0.2:80', 'and the summary reads as before');
  for (let i = 0; i < 10; i++) parseConfig(`listen x${i}\n`);
  t.not(parseConfig(after), first, 'only the last few texts are kept');
});
