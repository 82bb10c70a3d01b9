// Defaults that more than one package applies; each is set here once.

/** check_cmd and reload_cmd: how long one may run before its process group is killed. */
export const DEFAULT_COMMAND_TIMEOUT_MS = 30_000;
/** The same, as the --command-timeout flag's default reads. */
export const DEFAULT_COMMAND_TIMEOUT = `${DEFAULT_COMMAND_TIMEOUT_MS / 1000}s`;
