// The workspace packages as npm sees them, and what their code imports.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join } from 'node:path';

export interface Workspace {
  dir: string;
  path: string;
  manifest: { name: string; version: string; private?: boolean; dependencies?: Record<string, string>; [k: string]: unknown };
}

export function publishedPackages(root: string): Workspace[] {
  return readdirSync(join(root, 'packages'))
    .map((dir) => ({ dir: `packages/${dir}`, path: join(root, 'packages', dir), manifest: JSON.parse(readFileSync(join(root, 'packages', dir, 'package.json'), 'utf8')) as Workspace['manifest'] }))
    .filter((ws) => !ws.manifest.private);
}

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return path.endsWith('.ts') ? [path] : [];
  });
}

/** Package names that src/ imports (static, dynamic and type-only), without node's built-ins. */
export function importedPackages(ws: Workspace): Set<string> {
  const names = new Set<string>();
  for (const file of sources(join(ws.path, 'src'))) {
    for (const [, spec] of readFileSync(file, 'utf8').matchAll(/(?:\bfrom\s+|\bimport\s*\(\s*|\bimport\s+)['"]([^'"]+)['"]/g)) {
      if (spec!.startsWith('.') || spec!.startsWith('node:') || builtinModules.includes(spec!)) continue;
      names.add(spec!.split('/').slice(0, spec!.startsWith('@') ? 2 : 1).join('/'));
    }
  }
  return names;
}

export function declaredDependencies(ws: Workspace): Set<string> {
  return new Set(Object.keys(ws.manifest.dependencies ?? {}));
}
