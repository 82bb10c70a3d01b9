// PUT /v1/catalog/register and /v1/catalog/deregister: the writes, vetted against the token as
// Consul's vetRegisterWithACL and vetDeregisterWithACL vet them.
import type { Allows } from '../acl.js';
import { ApiError, bad, denied } from '../api-error.js';
import { checkBodies, serviceFrom, status, str, strMap } from './decode.js';
import { k, sameJson, type CatalogTables, type Datacenter, type Json, type Node } from './tables.js';

/** PUT /v1/catalog/register. */
export function register(tables: CatalogTables, dcName: string | undefined, body: Json, allows: Allows): void {
  const dc = tables.dc(typeof body.Datacenter === 'string' && body.Datacenter ? body.Datacenter : dcName);
  const nodeName = str(body.Node, 'Node');
  if (!nodeName) throw bad('Must provide node');
  const address = str(body.Address, 'Address');
  const skipNodeUpdate = body.SkipNodeUpdate === true;
  if (!address && !skipNodeUpdate) throw bad('Must provide address if SkipNodeUpdate is not set');
  const svcBody = body.Service as Json | undefined | null;
  const service = svcBody ? serviceFrom(svcBody, nodeName) : undefined;
  if (service && !service.service) throw bad('Must provide service name (Service.Service) with ID');
  const checks = checkBodies(body).map((c) => {
    const id = str(c.CheckID, 'CheckID');
    if (!id) throw bad('Must provide a CheckID');
    const serviceId = str(c.ServiceID, 'ServiceID');
    return { checkId: id, name: str(c.Name, 'Name') || id, status: status(c.Status, 'critical'), notes: str(c.Notes, 'Notes'), output: str(c.Output, 'Output'), serviceId, type: '' };
  });
  const cur = dc.nodes.get(nodeName);
  const nodeFields = { id: str(body.ID, 'ID'), address, taggedAddresses: strMap(body.TaggedAddresses, 'TaggedAddresses'), meta: strMap(body.NodeMeta, 'NodeMeta') };
  const changesNode = !cur || (!skipNodeUpdate && !sameJson(nodeFields, { id: cur.id, address: cur.address, taggedAddresses: cur.taggedAddresses, meta: cur.meta }));
  vetRegister(dc, allows, { node: nodeName, changesNode, ...(service ? { service } : {}), checks });
  const idx = tables.opts.bump();
  let changed = false;
  if (!skipNodeUpdate || !cur) {
    const next: Node = {
      id: str(body.ID, 'ID') || cur?.id || '',
      node: nodeName,
      address: address || cur?.address || '',
      taggedAddresses: strMap(body.TaggedAddresses, 'TaggedAddresses'),
      meta: strMap(body.NodeMeta, 'NodeMeta'),
      createIndex: cur?.createIndex ?? idx,
      modifyIndex: idx,
    };
    if (!cur || !sameJson({ ...cur, modifyIndex: 0 }, { ...next, modifyIndex: 0 })) {
      dc.nodes.set(nodeName, next);
      tables.touchNode(dc, nodeName, idx);
      changed = true;
    }
  }
  if (service) changed = tables.putService(dc, service, idx) || changed;
  for (const c of checks) changed = tables.putCheck(dc, { node: nodeName, ...c }, idx) || changed;
  if (changed) tables.opts.notify();
}

/**
 * Consul's vetRegisterWithACL: node write to create or change the node, service write on the
 * service and on the one its ID replaces, node write for a node check, service write for a check
 * of another service already on the node.
 */
function vetRegister(dc: Datacenter, allows: Allows, r: { node: string; changesNode: boolean; service?: { id: string; service: string }; checks: { checkId: string; serviceId: string }[] }) {
  if (r.changesNode && !allows('node', 'write', r.node)) throw denied();
  if (r.service) {
    if (!allows('service', 'write', r.service.service)) throw denied();
    const replaced = dc.services.get(k(r.node, r.service.id));
    if (replaced && !allows('service', 'write', replaced.service)) throw denied();
  }
  for (const c of r.checks) {
    if (!c.serviceId) {
      if (!allows('node', 'write', r.node)) throw denied();
      continue;
    }
    if (r.service?.id === c.serviceId) continue;
    const other = dc.services.get(k(r.node, c.serviceId));
    if (!other) throw new ApiError(500, `Unknown service ID '${c.serviceId}' for check ID '${c.checkId}'`);
    if (!allows('service', 'write', other.service)) throw denied();
  }
}

/** PUT /v1/catalog/deregister: a node with all it holds, one service with its checks, or one check. */
export function deregister(tables: CatalogTables, dcName: string | undefined, body: Json, allows: Allows): void {
  const dc = tables.dc(typeof body.Datacenter === 'string' && body.Datacenter ? body.Datacenter : dcName);
  const nodeName = str(body.Node, 'Node');
  if (!nodeName) throw bad('Must provide node');
  const serviceId = str(body.ServiceID, 'ServiceID');
  const checkId = str(body.CheckID, 'CheckID');
  vetDeregister(dc, allows, nodeName, serviceId, checkId);
  const idx = tables.opts.bump();
  let changed = false;
  if (serviceId) changed = tables.dropService(dc, nodeName, serviceId, idx);
  else if (checkId) changed = tables.dropCheck(dc, nodeName, checkId, idx);
  else if (dc.nodes.has(nodeName)) {
    for (const s of [...dc.services.values()]) if (s.node === nodeName) tables.dropService(dc, nodeName, s.id, idx);
    for (const c of [...dc.checks.values()]) if (c.node === nodeName) dc.checks.delete(k(nodeName, c.checkId));
    dc.nodes.delete(nodeName);
    dc.nodesIndex = idx;
    changed = true;
  }
  if (changed) tables.opts.notify();
}

/** Consul's vetDeregisterWithACL: node write allows it all; else service write on the service (or the check's service). */
function vetDeregister(dc: Datacenter, allows: Allows, node: string, serviceId: string, checkId: string) {
  if (allows('node', 'write', node)) return;
  if (serviceId) {
    const s = dc.services.get(k(node, serviceId));
    if (!s) throw new ApiError(500, `Unknown service ID '${serviceId}'`);
    if (!allows('service', 'write', s.service)) throw denied();
  } else if (checkId) {
    const c = dc.checks.get(k(node, checkId));
    if (!c) throw new ApiError(500, `Unknown check ID '${checkId}'`);
    const svc = c.serviceId ? dc.services.get(k(node, c.serviceId)) : undefined;
    if (!svc || !allows('service', 'write', svc.service)) throw denied();
  } else throw denied();
}
