export * from './consul-double/index.js';
export * from './errors.js';
export * from './proc.js';
export * from './ports.js';
export * from './memcached.js';
export * from './mariadb.js';
export * from './haproxy.js';
export * from './etcd.js';
