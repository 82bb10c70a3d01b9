// The environment check_cmd and reload_cmd see. An allow-list, not a deny-list: the store's
// credentials (CONSUL_HTTP_TOKEN, CONSUL_HTTP_TOKEN_FILE, CONSUL_CLIENT_KEY, an etcd password,
// REDISCLI_AUTH, ...) and whatever else the renderer was started with never reach a command, nor,
// through "${VAR}" in haproxy.cfg, the output of `haproxy -c` that goes to the log.

/** What every command keeps: the basics of a process, and HAProxy's own names ("NAME_*": a prefix). */
export const COMMAND_ENV_DEFAULTS: readonly string[] = ['PATH', 'HOME', 'LANG', 'LANGUAGE', 'LC_*', 'TZ', 'TMPDIR', 'HAPROXY_*'];

/** Whether a variable name is one of the names or prefixes ("LC_*"). */
function named(name: string, names: readonly string[]): boolean {
  return names.some((n) => (n.endsWith('*') ? name.startsWith(n.slice(0, -1)) : name === n));
}

/** env reduced to COMMAND_ENV_DEFAULTS and the names the operator adds (--command-env). */
export function commandEnv(env: Readonly<Record<string, string | undefined>>, extra: readonly string[] = []): Record<string, string> {
  const keep = [...COMMAND_ENV_DEFAULTS, ...extra];
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && named(k, keep)) out[k] = v;
  return out;
}
