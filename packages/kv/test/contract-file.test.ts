import t from 'tap';
import { createFileStore } from '@confd-haproxy/kv';
import { join } from 'node:path';
import { runContract } from './contract.js';

// One directory for the file (t.testdir empties it on every call), a store file per case.
const dir = t.testdir({});
let n = 0;
runContract(t, {
  name: 'file',
  // Every case has a file of its own.
  casesAtOnce: 8,
  async open() {
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
