// Updates without a reload: when two configurations differ only in the address, port, weight or
// maintenance state of servers that exist in both, the change is applied through HAProxy's runtime
// API (`set server ...` on the admin stats socket) instead of a reload. Anything else reloads.
import { isIP } from 'node:net';
import { parseConfig as parse } from './haproxy-config.js';
import { masterCommand } from './haproxy.js';

/** weight N and disabled are runtime-settable; every other parameter must stay as it was. */
function split(params: string[]): { weight: string | undefined; disabled: boolean; rest: string } {
  let weight: string | undefined;
  let disabled = false;
  const rest: string[] = [];
  for (let i = 0; i < params.length; i++) {
    if (params[i] === 'weight') weight = params[++i];
    else if (params[i] === 'disabled') disabled = true;
    else rest.push(params[i]!);
  }
  return { weight, disabled, rest: rest.join(' ') };
}

export type RuntimePlan = { commands: string[] } | { reload: string };

/** The runtime commands that turn `before` into `after`, or why only a reload can. */
export function planRuntimeUpdate(before: string, after: string): RuntimePlan {
  const a = parse(before);
  const b = parse(after);
  if (a.shape.join('\n') !== b.shape.join('\n')) return { reload: 'the configuration changed beyond server addresses, weights and states' };
  const commands: string[] = [];
  for (const [id, next] of b.servers) {
    const prev = a.servers.get(id)!;
    const p = split(prev.params);
    const n = split(next.params);
    if (p.rest !== n.rest) return { reload: `server ${id} changed more than its address, weight or state` };
    if (prev.host !== next.host || prev.port !== next.port) {
      if (!isIP(next.host)) return { reload: `server ${id}: ${next.host} is a name, and the runtime API takes addresses only` };
      commands.push(`set server ${id} addr ${next.host}${next.port ? ` port ${next.port}` : ''}`);
    }
    if (p.weight !== n.weight) commands.push(`set server ${id} weight ${n.weight ?? '1'}`);
    if (p.disabled !== n.disabled) commands.push(`set server ${id} state ${n.disabled ? 'maint' : 'ready'}`);
  }
  return { commands };
}

/** Send one command to the admin stats socket and return HAProxy's answer. */
export async function runtimeCommand(socket: string, command: string, timeoutMs = 5000): Promise<string> {
  return (await masterCommand(socket, command, timeoutMs)).trim();
}

// What HAProxy 2.6 answers to a `set server` it performed: nothing, or a note about the change.
const ACCEPTED = /^$|^IP changed from|^no need to change|^port changed from|changed from .* to/i;

/** Apply the commands; stops at the first refusal and says which. */
export async function applyRuntimeUpdate(socket: string, commands: readonly string[]): Promise<{ ok: boolean; answers: string[]; error?: string }> {
  const answers: string[] = [];
  for (const c of commands) {
    let answer: string;
    try {
      answer = await runtimeCommand(socket, c);
    } catch (err) {
      return { ok: false, answers, error: (err as Error).message };
    }
    answers.push(answer);
    if (!answer.split('\n').every((l) => ACCEPTED.test(l.trim()))) return { ok: false, answers, error: `"${c}" answered: ${answer}` };
  }
  return { ok: true, answers };
}
