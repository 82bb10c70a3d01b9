// The catalog's values are someone else's: which instances a template may see (an address and a
// port that are one word each), and how an instance is named in keys and messages.
import t from 'tap';
import { instanceKey, instanceLabel, instanceProblem, listedServiceKey, type ServiceInstance } from '@confd-haproxy/kv';

const instance = (o: Partial<ServiceInstance> = {}): ServiceInstance => ({
  node: 'n1',
  nodeId: 'id-n1',
  nodeAddress: '10.0.0.1',
  nodeDatacenter: 'dc1',
  nodeMeta: {},
  address: '10.0.0.11',
  id: 'web-1',
  name: 'web',
  tags: [],
  meta: {},
  port: 8001,
  status: 'passing',
  weights: { passing: 1, warning: 1 },
  ...o,
});

t.test('an instance with an IP or host name and a port is good, whatever its other strings hold', async (t) => {
  t.equal(instanceProblem(instance()), undefined);
  t.equal(instanceProblem(instance({ address: 'web1.dc1.consul', nodeAddress: '::1' })), undefined);
  // Strings a template may never print: the injection guard decides when one is written.
  t.equal(instanceProblem(instance({ meta: { owner: 'team "blue" #ops' }, tags: ['a b'], node: 'n 1' })), undefined);
});

t.test('an address that is not one word of a server line names the service, the instance and the field', async (t) => {
  t.same(instanceProblem(instance({ id: 'web-evil', address: '10.6.6.6:6666 weight 256 source 0.0.0.0 #' })), {
    field: 'Address',
    message: 'service "web" instance "web-evil" on node "n1": Address "10.6.6.6:6666 weight 256 source 0.0.0.0 #" is not an IP address or host name',
  });
  t.match(instanceProblem(instance({ address: '127.0.0.1:9 "${CONSUL_HTTP_TOKEN}" #' })), { field: 'Address', message: /Address "127\.0\.0\.1:9 \\"\$\{CONSUL_HTTP_TOKEN\}\\" #" is not/ });
  t.match(instanceProblem(instance({ address: '' })), { field: 'Address', message: /Address "" is not an IP address or host name/ });
});

t.test("a node's address is checked first: an instance without an address of its own has it", async (t) => {
  t.match(instanceProblem(instance({ nodeAddress: '10.6.6.7 backup', address: '10.6.6.7 backup' })), { field: 'NodeAddress', message: /NodeAddress "10\.6\.6\.7 backup" is not/ });
  t.match(instanceProblem(instance({ nodeAddress: '10.6.6.7 backup' })), { field: 'NodeAddress' }, "even when the service's own address is good");
});

t.test('a port outside 1..65535 is refused', async (t) => {
  for (const port of [0, -1, 65536, 80.5]) t.match(instanceProblem(instance({ port })), { field: 'Port', message: new RegExp(`Port ${port} is not a port number \\(1\\.\\.65535\\)`) }, String(port));
});

t.test('messages quote what the catalog holds: a newline cannot start a log line of its own', async (t) => {
  const p = instanceProblem(instance({ id: 'x\nERROR forged', node: 'n\n1', address: 'a\nb' }))!;
  t.notMatch(p.message, '\n');
  t.match(p.message, /instance "x\\nERROR forged" on node "n\\n1"/);
  t.match(instanceProblem(instance({ address: 'x'.repeat(200) }))!.message, /"x{80}\.\.\."/, 'and cut long values short');
});

t.test('an instance is keyed by service, datacenter, node and ID; a listed service by datacenter and name', async (t) => {
  t.equal(instanceKey(instance()), 'service:web@dc1/n1/web-1');
  t.equal(instanceKey(instance({ nodeDatacenter: '' })), 'service:web/n1/web-1');
  t.equal(instanceLabel(instance()), 'service "web" instance "web-1" on node "n1"');
  t.equal(listedServiceKey('', 'web'), 'services:/web');
  t.equal(listedServiceKey('dc2', 'db'), 'services:@dc2/db');
});
