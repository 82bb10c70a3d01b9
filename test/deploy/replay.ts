// A Dockerfile replayed without a Docker engine: each stage gets a directory standing for its
// root filesystem; COPY copies from the build context (the repository's files minus
// .dockerignore) or from another stage; RUN runs in the stage's WORKDIR when the stage is a build
// stage (its commands must use relative paths only, so nothing outside the directory is touched).
// The final stage's RUN steps change the system (packages, users) and are listed, not run.
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';
import { parse, type CommandEntry } from 'docker-file-parser';
import ignore from 'ignore';

export interface Stage {
  name: string;
  rootfs: string;
  workdir: string;
  env: Record<string, string>;
  user?: string;
  cmd?: string[];
  healthcheck?: string;
  expose: string[];
  skipped: string[];
}

export interface ReplayResult {
  ok: boolean;
  /** The instruction that failed, and why. */
  error?: string;
  stages: Stage[];
}

export interface ReplayOptions {
  dockerfile: string;
  /** The build context: a directory, and the files in it that a fresh clone has. */
  context: string;
  files: string[];
  /** Where the stages' root filesystems go. */
  out: string;
  timeoutMs?: number;
}

/** The repository's tracked files, minus what .dockerignore keeps out of the context. */
export function contextFiles(root: string): string[] {
  const tracked = execFileSync('git', ['ls-files', '-z'], { cwd: root, encoding: 'utf8' }).split('\0').filter(Boolean);
  const ignorePath = join(root, '.dockerignore');
  const ig = ignore().add(existsSync(ignorePath) ? readFileSync(ignorePath, 'utf8') : '');
  return tracked.filter((f) => !ig.ignores(f));
}

const inRootfs = (stage: Stage, path: string) => join(stage.rootfs, posix.isAbsolute(path) ? path : posix.join(stage.workdir, path));

function copyFromContext(opts: ReplayOptions, stage: Stage, srcs: string[], dest: string): string | undefined {
  for (const src of srcs) {
    const rel = posix.normalize(src).replace(/^\.?\//, '').replace(/\/$/, '');
    const matches = opts.files.filter((f) => f === rel || f.startsWith(`${rel}/`) || rel === '.');
    if (matches.length === 0) return `COPY ${src}: not found in the build context`;
    const isDir = !(matches.length === 1 && matches[0] === rel);
    for (const f of matches) {
      const target = isDir ? join(inRootfs(stage, dest), rel === '.' ? f : f.slice(rel.length + 1)) : dest.endsWith('/') || srcs.length > 1 ? join(inRootfs(stage, dest), posix.basename(f)) : inRootfs(stage, dest);
      mkdirSync(dirname(target), { recursive: true });
      cpSync(join(opts.context, f), target, { verbatimSymlinks: true });
    }
  }
  return undefined;
}

function copyFromStage(from: Stage, stage: Stage, srcs: string[], dest: string): string | undefined {
  for (const src of srcs) {
    const path = inRootfs(from, src);
    if (!existsSync(path)) return `COPY --from=${from.name} ${src}: not in that stage`;
    const target = inRootfs(stage, dest);
    mkdirSync(statSync(path).isDirectory() ? target : dirname(target), { recursive: true });
    cpSync(path, target, { recursive: true, verbatimSymlinks: true });
  }
  return undefined;
}

function run(stage: Stage, command: string, timeoutMs: number): string | undefined {
  if (/(^|[\s;&|>'"=])\/(?!dev\/null)[a-z]/i.test(command)) return `RUN ${command}: uses an absolute path, so it cannot be replayed outside a container`;
  const cwd = inRootfs(stage, '.');
  mkdirSync(cwd, { recursive: true });
  const r = spawnSync('/bin/sh', ['-c', command], { cwd, encoding: 'utf8', timeout: timeoutMs, env: { ...process.env, ...stage.env, CI: 'true' } });
  if (r.status !== 0) return `RUN ${command}: exit ${r.status ?? r.signal}\n${(r.stderr ?? '').slice(-2000)}`;
  return undefined;
}

const argList = (e: CommandEntry): string[] => (Array.isArray(e.args) ? (e.args as string[]) : String(e.args).split(/\s+/).filter(Boolean));

export function replayDockerfile(opts: ReplayOptions): ReplayResult {
  const entries = parse(readFileSync(opts.dockerfile, 'utf8'), { includeComments: false });
  const stages: Stage[] = [];
  const usedAsSource = new Set(entries.filter((e) => e.name === 'COPY').flatMap((e) => argList(e).filter((a) => a.startsWith('--from=')).map((a) => a.slice(7))));
  const fail = (error: string): ReplayResult => ({ ok: false, error, stages });
  for (const e of entries) {
    const stage = stages.at(-1);
    if (e.name === 'FROM') {
      const [, name] = /\bAS\s+(\S+)/i.exec(String(e.args)) ?? [];
      stages.push({ name: name ?? String(stages.length), rootfs: join(opts.out, `stage-${stages.length}`), workdir: '/', env: {}, expose: [], skipped: [] });
      continue;
    }
    if (!stage) return fail(`${e.name} before FROM`);
    switch (e.name) {
      case 'WORKDIR':
        stage.workdir = posix.resolve(stage.workdir, String(e.args));
        mkdirSync(inRootfs(stage, '.'), { recursive: true });
        break;
      case 'ENV':
        Object.assign(stage.env, e.args as Record<string, string>);
        break;
      case 'COPY': {
        const args = argList(e);
        const from = args.find((a) => a.startsWith('--from='))?.slice(7);
        const paths = args.filter((a) => !a.startsWith('--'));
        const dest = paths.pop()!;
        const source = from === undefined ? undefined : stages.find((s) => s.name === from);
        if (from !== undefined && !source) return fail(`COPY --from=${from}: no such stage`);
        const error = source ? copyFromStage(source, stage, paths, dest) : copyFromContext(opts, stage, paths, dest);
        if (error) return fail(error);
        break;
      }
      case 'RUN': {
        const command = Array.isArray(e.args) ? (e.args as string[]).join(' ') : String(e.args);
        if (!usedAsSource.has(stage.name)) {
          stage.skipped.push(command);
          break;
        }
        const error = run(stage, command, opts.timeoutMs ?? 600_000);
        if (error) return fail(error);
        break;
      }
      case 'USER':
        stage.user = String(e.args);
        break;
      case 'CMD':
        stage.cmd = argList(e);
        break;
      case 'HEALTHCHECK':
        stage.healthcheck = String(e.args);
        break;
      case 'EXPOSE':
        stage.expose.push(...argList(e));
        break;
      default:
        break;
    }
  }
  return { ok: true, stages };
}
