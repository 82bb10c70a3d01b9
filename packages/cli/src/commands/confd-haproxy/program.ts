// confd-haproxy's flags and help text: the run flags on the program itself, one command per
// subcommand. Each action only names its subcommand; the subcommand files do the work.
import { Command, Option } from 'commander';
import { DEFAULT_COMMAND_TIMEOUT, DEFAULT_RENDER_MAX_SIZE, DEFAULT_RENDER_TIMEOUT } from '@confd-haproxy/base';
import { addStoreFlags } from '../../store-flags.js';
import { VERSION } from '../../version.js';
import type { Mode } from './flags.js';

export type Subcommand = Mode | 'keygen' | 'migrate';

/** Repeatable, taken whole: a command or a path may hold a comma. */
const repeat = (v: string, prev: string[]) => [...prev, v];

/** The flags every subcommand but keygen shares: the store, where conf.d is, logging, limits and state. */
function storeFlags(cmd: Command): Command {
  return addStoreFlags(cmd)
    .option('--prefix <prefix>', 'key prefix prepended to every resource\'s keys', '')
    .option('--confdir <dir>', 'directory holding conf.d/ and templates/', '/etc/confd')
    .option('--config-file <path>', 'confd-style TOML config file (flags override it)')
    .option('--log-level <level>', 'panic, fatal, error, warn (warning), info, debug or trace', 'info')
    .option('--log-format <format>', 'text or json', 'text')
    .option('--command-timeout <duration>', 'timeout of check_cmd and reload_cmd unless a resource sets its own', DEFAULT_COMMAND_TIMEOUT)
    .option('--render-timeout <duration>', 'how long one template may render; past it the render is stopped and that resource fails, its dest left as it was', DEFAULT_RENDER_TIMEOUT)
    .option('--render-max-size <size>', 'how large one rendered file may grow (e.g. 64MB; 1 MB = 1024 KB); past it the render fails likewise', DEFAULT_RENDER_MAX_SIZE)
    .option('--keep-stage-file', 'keep stage files for inspection')
    .option('--state-dir <dir>', 'where the status, the last good entries and the adopted bundles are kept, private to this user (default /var/lib/confd-haproxy as root, else $XDG_STATE_HOME/confd-haproxy or ~/.local/state/confd-haproxy)')
    .option('--listen <host:port>', 'serve /livez, /healthz, /readyz and /metrics (e.g. 127.0.0.1:9101)')
}

/** confd-haproxy's program; `run` is called with the parsed command and the subcommand it names. */
export function buildProgram(run: (cmd: Command, name: Subcommand) => Promise<void>): Command {
  /** The action of subcommand `name`: commander calls it with the command as `this`. */
  const runAs = (name: Subcommand) =>
    async function (this: Command) {
      await run(this, name);
    };
  const program = storeFlags(new Command('confd-haproxy'))
    .version(VERSION, '--version', 'print the version and exit')
    .description('Render conf.d resources and Handlebars templates from a KV store into haproxy.cfg; check, swap, reload.')
    .option('--onetime', 'render once and exit (0 on success, non-zero on any error)')
    .option('--watch', 'watch the store (blocking queries) and conf.d/templates, render on change')
    .option('--interval <seconds>', 'poll the store every N seconds (default mode)', '600')
    .option('--wait <min[:max]>', 'after a change wait for min of quiet, but never longer than max, then render once', '200ms:2s')
    .option('--noop', 'render and print a diff against each dest; change nothing (exit 0 as confd; plan exits 2 when changes are pending)')
    .option('--sync-only', 'write dest files but skip check_cmd and reload_cmd')
    .option('--allow-stale', 'render data the store answered without a known leader (refused by default)')
    .option('--reset-hold <duration>', 'with --watch: after the store reset (index went backwards, most keys gone at once), render only once its data was stable this long; 0 renders at once', '500ms')
    .option('--config-from-store', 'take conf.d and templates from the bundle in the store (haproxy/.config/bundle), --confdir until one is adopted; implies --watch')
    .option('--diffs-before-sync <n>', 'with --config-from-store: reads of the same new bundle version before it is adopted', '3')
    .option('--status-ttl <duration>', 'with --config-from-store: TTL of the session behind haproxy/.status/<instance-id> (Consul: at least 10s)', '15s')
    .option('--trust-key <file>', 'with --config-from-store: adopt only bundles signed by this Ed25519 public key, each version above the last (repeatable, for key rotation)', repeat, [])
    .option('--environment <name>', 'with --config-from-store: adopt only bundles pushed for this environment (push --environment)')
    .option('--instance-label <key=value>', 'with --config-from-store: a label of this instance that push --canary key=value picks canaries by (repeatable)', repeat, [])
    .option('--stats-socket <path>', "with --config-from-store: HAProxy's stats socket, where a canary reads HAProxy's numbers before and after a rollout bundle (show stat)")
    .option('--allow-command <pattern>', 'every check_cmd and reload_cmd (of --confdir and of any bundle) must match one of these word for word ({{.src}}: the stage file; * and ? in a word match only letters, digits and _ @ % + = : , . / -); commands then run without a shell; repeatable', repeat, [])
    .option('--allow-dest <file>', 'every dest (of --confdir and of any bundle) must be one of these files, or lie under one of these directories written with a trailing / (e.g. /etc/haproxy/), checked again when it is written; repeatable', repeat, [])
    .option('--allow-directive <name>', "a rendered file may use this directive although it loads code or runs a program (lua-load, external-check, program, setenv, ...; the README lists them), which bundles may not by default, nor --confdir once an --allow-* flag is given; repeatable", repeat, [])
    .option('--allow-env <name>', "a bundle's templates (getenv) and the HAProxy configuration it renders (\"${NAME}\") may read this environment variable; repeatable", repeat, [])
    .option('--allow-owner <uid:gid>', 'a bundle may give its dests this owner besides the instance\'s own; repeatable', repeat, [])
    .option('--command-env <name>', 'a variable check_cmd and reload_cmd see besides PATH, HOME, LANG, LANGUAGE, LC_*, TZ, TMPDIR and HAPROXY_* (never the store credentials unless named here); repeatable', repeat, [])
    .addOption(new Option('--debug').hideHelp())
    .enablePositionalOptions()
    .action(runAs('run'));
  storeFlags(program.command('status'))
    .description('for each resource: its last render, check and reload, and whether dest differs from what the store holds now. Exit 0: in sync, 2: differs, 1: error')
    .option('--json', 'print JSON for scripts')
    .option('--fleet', 'every instance that publishes haproxy/.status/: its bundle version, checksums, and who is behind, diverged or failed since when. Exit 0: converged, 2: not')
    .option('--wait-converged <duration>', 'with --fleet: wait up to this long for the fleet to converge; exit 1 when it did not')
    .action(runAs('status'));
  storeFlags(program.command('push'))
    .description('push --confdir\'s conf.d and templates as the next bundle version (haproxy/.config/bundle, CAS); refused unless it loads and renders. Exit 0: pushed or unchanged, 65: refused, 1: error')
    .option('--sign-key <file>', 'sign the bundle with this Ed25519 private key (confd-haproxy keygen); instances with --trust-key adopt only signed bundles')
    .option('--allow-secrets', 'push files that look like they hold credentials (refused by default)')
    .option('--environment <name>', 'the environment the bundle is for (signed with it): instances adopt it only with the same --environment')
    .option('--rollback-to <version>', 'push the files of a bundle kept under --state-dir/bundles/ (an instance\'s adopted bundles) as the next version, instead of --confdir\'s')
    .option('--canary <n|ids|key=value>', 'a canary rollout: only these instances (the first n by id, instance ids, or those with --instance-label key=value) take the bundle, judge it on their HAProxy and revert by themselves if it fails; the others take it once it passed. Exit 0: promoted, 1: failed')
    .option('--judge <duration>', 'with --canary: how long after the change each instance reads HAProxy\'s numbers (default 60s)')
    .option('--judge-error-margin <percent>', 'with --canary: connection and response errors per session may rise by this many points (default 1)')
    .option('--judge-max-down <n>', 'with --canary: at most n servers may go DOWN (default: not judged; a backend left without a healthy server always fails)')
    .option('--judge-allow-gone <n>', 'with --canary: listens that may disappear (default 0)')
    .option('--waves <list>', 'with --canary: after the canaries, promote the others in waves, e.g. 10%,50%,100% (default 100%)')
    .option('--report-grace <duration>', 'with --canary or --resume: how long past --judge an instance may take to report (default 60s)')
    .option('--resume', 'drive the rollout of the bundle in the store on from its record (after a pusher stopped); signs with --sign-key')
    .action(runAs('push'));
  program
    .command('keygen')
    .description('write an Ed25519 key pair for signing bundles: DIR/push.key (mode 0600, for push --sign-key) and DIR/push.pub (for --trust-key). Exit 0: written, 65: a key exists already')
    .requiredOption('--out <dir>', 'directory for push.key and push.pub')
    .action(runAs('keygen'));
  storeFlags(program.command('plan'))
    .description('render and print a unified diff against each dest; change nothing. Exit 0: nothing to change, 2: changes pending, 1: error')
    .action(runAs('plan'));
  storeFlags(program.command('migrate'))
    .description("report how an existing confd layout (--confdir: confd.toml, conf.d, templates) fares here: per resource whether the Go engine takes its template, rendered against the store when one is given (dest never written), compared byte for byte with confd's own output with --confd-bin; and the settings and fields read differently. Exit 0: ready as is, 2: needs attention, 65: unreadable input")
    .option('--confd-bin <path>', 'a confd binary: render each resource with it too (-onetime, into a temporary directory) and compare')
    .option('--json', 'print JSON for scripts')
    .action(runAs('migrate'));
  return program;
}
