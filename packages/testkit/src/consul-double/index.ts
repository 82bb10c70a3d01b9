// A Consul HTTP API test double: the KV, blocking-query, session, catalog and ACL behaviour of
// Consul's API documentation (see README.md here), with faults that tests control. Not shipped.
// This file wires the parts together; state.ts is the place to start reading.
import { AclTable } from './acl.js';
import { BlockedQueries } from './blocking.js';
import { AgentServices } from './catalog/agent.js';
import { CatalogEndpoints } from './catalog/endpoints.js';
import { CatalogTables } from './catalog/tables.js';
import { sender } from './http.js';
import { KvEndpoints } from './kv.js';
import { AgentListener, type Handle } from './listener.js';
import { RequestFaults } from './request-faults.js';
import { Router } from './router.js';
import { DEFAULT_SESSION_TTL_MIN_MS, SessionEndpoints } from './session-endpoints.js';
import { SessionLife } from './session-life.js';
import { State } from './state.js';
import { requireTier } from '../tier.js';
import type { ConsulDouble, ConsulDoubleOptions, RecordedRequest } from './types.js';

export type { AclAccess, AclPolicy, AclResource, AclRule, ConsulDoubleAclOptions } from './acl.js';
export { parseGoDuration } from './duration.js';
export type { ConsulDouble, ConsulDoubleAgent, ConsulDoubleFaults, ConsulDoubleOptions, RecordedRequest } from './types.js';

/** Starts the double on a free loopback port: a server, so only integration and e2e tests may. */
export async function startConsulDouble(opts: ConsulDoubleOptions = {}): Promise<ConsulDouble> {
  requireTier('integration', 'the Consul HTTP API double');
  const host = opts.host ?? '127.0.0.1';
  const nodeName = opts.nodeName ?? 'consul-double';
  const acl = new AclTable(opts.acl);
  const state = new State();
  const queries = new BlockedQueries();
  const notify = () => queries.notify();
  const faults = new RequestFaults();
  const send = sender(() => state.raftIndex, () => faults.knownLeader);
  const requests: RecordedRequest[] = [];
  const tables = new CatalogTables({ nodeName, datacenters: opts.datacenters?.length ? opts.datacenters : ['dc1'], bump: () => state.bump(), notify });
  const agentServices = new AgentServices(tables);
  const sessions = new SessionLife(state, notify, opts.sessionGraceMs);
  const router = new Router({
    acl,
    faults,
    state,
    send,
    kv: new KvEndpoints(state, queries, send),
    sessions: new SessionEndpoints({ state, life: sessions, nodes: tables, send, ttlMinMs: opts.sessionTtlMinMs ?? DEFAULT_SESSION_TTL_MIN_MS }),
    catalog: new CatalogEndpoints({ tables, agents: agentServices, queries, send }),
    requests: opts.recordRequests !== false ? requests : undefined,
  });
  const handle: Handle = (req, res, agentNode) => router.handle(req, res, agentNode);

  const first = new AgentListener(nodeName, handle, send);
  const port = await first.listen(host, opts.port ?? 0);
  /** The listeners of addAgent's agents, closed with the double. */
  const others: AgentListener[] = [];

  return {
    url: `http://${host}:${port}`,
    address: `${host}:${port}`,
    port,
    requests,
    get blockedQueries() {
      return queries.size;
    },
    faults: {
      async refuseConnections(on) {
        first.refusing = on;
        if (on) await first.close();
        else if (!first.listening && !router.closed) await first.listen(host, port);
      },
      delay(ms) {
        faults.delayMs = ms;
      },
      fail(status, count = -1) {
        faults.fail(status, count);
      },
      resetIndex() {
        tables.resetIndexes(state.resetIndex());
        // Like a restored state store: every held query is abandoned and answers now.
        queries.wakeAll();
      },
      knownLeader(on) {
        faults.knownLeader = on;
      },
      wakeBlockedQueries() {
        queries.wakeAll();
      },
    },
    revokeToken(token) {
      acl.revoke(token);
    },
    async addAgent(agentNode) {
      if (router.closed) throw new Error('the Consul double is closed');
      tables.joinAgent(agentNode);
      const agent = new AgentListener(agentNode, handle, send);
      others.push(agent);
      const agentPort = await agent.listen(host, 0);
      return { url: `http://${host}:${agentPort}`, address: `${host}:${agentPort}`, port: agentPort, nodeName: agentNode };
    },
    expireSession(id) {
      sessions.invalidate(id);
    },
    expireAllSessions() {
      sessions.invalidateAll();
    },
    async close() {
      router.closed = true;
      agentServices.close();
      sessions.stop();
      faults.endPauses();
      queries.wakeAll();
      await Promise.all([first.close(), ...others.map((a) => a.close())]);
    },
  };
}
