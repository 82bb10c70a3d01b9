// Golden files: KV input + template → the exact bytes expected. UPDATE_GOLDEN=1 rewrites them.
import t from 'tap';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTemplateEngine } from '@confd-haproxy/template';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const fixtures = join(root, 'test/fixtures/templates');

export function caseInput(dir: string) {
  const kv = JSON.parse(readFileSync(join(dir, 'kv.json'), 'utf8')) as Record<string, string>;
  const data = Object.entries(kv).map(([key, value]) => ({ key: key.startsWith('/') ? key : `/${key}`, value }));
  const own = existsSync(join(dir, 'template.hbs'));
  return { data, templatesDir: own ? dir : join(root, 'templates'), src: own ? 'template.hbs' : 'haproxy.cfg.hbs' };
}

for (const name of readdirSync(fixtures).sort()) {
  t.test(`the ${name} fixture renders its golden output`, async (t) => {
    const dir = join(fixtures, name);
    const { data, templatesDir, src } = caseInput(dir);
    const engine = createTemplateEngine({ templatesDir, env: { HAPROXY_STATS_SOCKET: '/run/haproxy/admin.sock' } });
    const out = await engine.render(src, data);
    const expectFile = join(dir, 'expect/output');
    if (process.env.UPDATE_GOLDEN === '1') {
      mkdirSync(join(dir, 'expect'), { recursive: true });
      writeFileSync(expectFile, out);
    }
    t.equal(out, readFileSync(expectFile, 'utf8'));
  });
}
