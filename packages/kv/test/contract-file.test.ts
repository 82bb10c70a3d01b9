import t from 'tap';
import { createFileStore } from '@confd-haproxy/kv';
import { join } from 'node:path';
import { runContract } from './contract.js';

let n = 0;
runContract(t, {
  name: 'file',
  async open() {
    const dir = t.testdir({});
    const file = join(dir, `kv-${++n}.json`);
    const a = createFileStore({ file });
    const b = createFileStore({ file });
    return {
      a,
      b,
      prefix: 'haproxy/',
      lockTtlMs: 1500,
      close: async () => {
        await a.close();
        await b.close();
      },
    };
  },
});
