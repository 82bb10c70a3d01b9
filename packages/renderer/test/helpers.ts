import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RendererLogger } from '@confd-haproxy/renderer';

export const quietLogger = (lines: string[] = []): RendererLogger => ({
  debug: () => {},
  info: (m) => lines.push(`INFO ${m}`),
  warn: (m) => lines.push(`WARN ${m}`),
  error: (m) => lines.push(`ERROR ${m}`),
});

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Poll until fn() is truthy, at most `ms`. */
export async function until(fn: () => boolean, ms = 10_000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (fn()) return true;
    await sleep(25);
  }
  return fn();
}

export const read = (p: string) => (existsSync(p) ? readFileSync(p, 'utf8') : '');
export const lines = (p: string) => read(p).split('\n').filter(Boolean);

export const entry = (name: string, port: number) => JSON.stringify({ name, host: '127.0.0.1', port, proxyport: port + 10050 });

/** A confdir with one resource rendering `/haproxy/mysqlslave/*` into out/haproxy.cfg. */
export function confdirFiles(opts: { check?: string; reload?: string; extra?: Record<string, string> } = {}) {
  const fields = [
    'src = "haproxy.cfg.hbs"',
    'dest = "out/haproxy.cfg"',
    'keys = ["/haproxy/mysqlslave"]',
    ...(opts.check ? [`check_cmd = ${JSON.stringify(opts.check)}`] : []),
    ...(opts.reload ? [`reload_cmd = ${JSON.stringify(opts.reload)}`] : []),
  ];
  return {
    'conf.d': { 'haproxy.toml': `[template]\n${fields.join('\n')}\n`, ...(opts.extra ?? {}) },
    templates: {
      'haproxy.cfg.hbs': '{{#each (gets "/haproxy/mysqlslave/*")}}{{#with (json Value)}}listen {{name}}\n    server {{name}}-mysql {{host}}:{{port}}\n{{/with}}{{/each}}',
    },
    out: {},
  };
}

export const dest = (dir: string) => join(dir, 'out/haproxy.cfg');
