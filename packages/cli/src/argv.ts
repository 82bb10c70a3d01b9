// confd spells its flags with one dash (-onetime, -node=x); commander wants two. Rewrite the
// known long names so both spellings work, and leave everything else for commander to judge.

/** `-name` / `-name=value` → `--name` / `--name=value` for every name in `longNames`. */
export function normalizeSingleDash(argv: readonly string[], longNames: ReadonlySet<string>): string[] {
  const out: string[] = [];
  let rest = false;
  for (const arg of argv) {
    if (rest || arg === '--') {
      rest = true;
      out.push(arg);
      continue;
    }
    const m = /^-([a-z][a-z0-9-]+)(=.*)?$/.exec(arg);
    if (m && longNames.has(m[1]!)) out.push(`--${m[1]}${m[2] ?? ''}`);
    else out.push(arg);
  }
  return out;
}
