export { createConsulStore, watchPrefix } from '@confd-haproxy/kv';
export { parseConsulAddress as parseConsulAddressForTests } from '@confd-haproxy/kv/consul/index';
