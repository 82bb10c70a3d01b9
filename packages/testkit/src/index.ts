export * from './consul-double/index.js';
export * from './proc.js';
export * from './memcached.js';
export * from './mariadb.js';
export * from './haproxy.js';
