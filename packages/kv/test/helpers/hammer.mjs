// A second process for the file store's concurrency test: N increments of one counter with CAS.
import { createFileStore } from '@confd-haproxy/kv';

const [file, key, count] = process.argv.slice(2);
const store = createFileStore({ file });
const deadline = Date.now() + 60_000;
let done = 0;
let conflicts = 0;
while (done < Number(count) && Date.now() < deadline) {
  const cur = await store.get(key);
  const next = String(Number(cur?.value ?? '0') + 1);
  if (await store.put(key, next, { cas: cur?.modifyIndex ?? 0 })) done++;
  else conflicts++;
}
await store.close();
process.stdout.write(JSON.stringify({ done, conflicts }));
