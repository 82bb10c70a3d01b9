// freePort hands out ports below the kernel's ephemeral range, where no outgoing connection can
// take them between the pick and the service's bind.
import t from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { freePort } from '@confd-haproxy/testkit';

const RANGE = '/proc/sys/net/ipv4/ip_local_port_range';

t.test('a port is free, below the ephemeral range, and never handed out twice', { skip: existsSync(RANGE) ? false : 'no ip_local_port_range here' }, async (t) => {
  const ephemeralLow = Number(readFileSync(RANGE, 'utf8').trim().split(/\s+/)[0]);
  const ports: number[] = [];
  for (let i = 0; i < 50; i++) ports.push(await freePort());
  t.equal(new Set(ports).size, ports.length, 'fifty ports, all different');
  t.ok(ports.every((p) => p >= 10_000 && p < ephemeralLow), `all in [10000, ${ephemeralLow})`);
  const srv = createServer();
  await new Promise<void>((done, fail) => srv.once('error', fail).listen(ports[0], '127.0.0.1', done));
  t.teardown(() => srv.close());
  t.pass('the first one can be bound');
});
