// Shared by the launcher tests.
import mysql from 'mysql2/promise';
import { MONITOR } from '@confd-haproxy/testkit';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Poll until fn() is true, at most timeoutMs; returns the last answer. */
export async function eventually(fn: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await fn()) return true;
    if (Date.now() > deadline) return false;
    await sleep(25);
  }
}

/** A query as the monitor user (what checkers log in as) over TCP to a MariaDB or Galera node; its rows. */
export async function asMonitor<T>(server: { port: number }, sql: string): Promise<T[]> {
  const conn = await mysql.createConnection({ host: '127.0.0.1', port: server.port, ...MONITOR, connectTimeout: 3000 });
  try {
    return (await conn.query(sql))[0] as T[];
  } finally {
    await conn.end();
  }
}
