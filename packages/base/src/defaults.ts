// Defaults that more than one package applies; each is set here once.

/** check_cmd and reload_cmd: how long one may run before its process group is killed. */
export const DEFAULT_COMMAND_TIMEOUT_MS = 30_000;
/** The same, as the --command-timeout flag's default reads. */
export const DEFAULT_COMMAND_TIMEOUT = `${DEFAULT_COMMAND_TIMEOUT_MS / 1000}s`;

/**
 * One render of a template: how long it may compute before its worker is stopped. The shipped
 * templates render 10 000 entries in well under a second (bench/render.mjs), so 10 s is no sane
 * template's time, and still short enough that a looping one costs a watcher one pass, not an hour.
 */
export const DEFAULT_RENDER_TIMEOUT_MS = 10_000;
/** The same, as the --render-timeout flag's default reads. */
export const DEFAULT_RENDER_TIMEOUT = `${DEFAULT_RENDER_TIMEOUT_MS / 1000}s`;
/**
 * One render's output: 10 000 entries render to 3.5 MB, so 64 MiB is some 180 000 entries, far
 * past any HAProxy configuration, and small enough that a template doubling its output is stopped
 * long before it fills the host's memory.
 */
export const DEFAULT_RENDER_MAX_BYTES = 64 * 1024 * 1024;
/** The same, as the --render-max-size flag's default reads (the `bytes` package's units: 1 MB = 1024 KB). */
export const DEFAULT_RENDER_MAX_SIZE = '64MB';
