// The render worker: one template engine in its own thread, so a template that loops forever
// blocks this thread, never the process's (its /livez, its signals); the isolated engine
// (isolated.ts) stops it at the render's deadline. It renders one request at a time.
import { parentPort, workerData } from 'node:worker_threads';
import { createTemplateEngine } from './engine.js';
import { TemplateError } from './errors.js';
import type { EntryRecovery } from './helpers.js';
import type { EntryEvent, ErrorData, FromWorker, ToWorker, WorkerSettings } from './protocol.js';

const port = parentPort!;
const settings = workerData as WorkerSettings;
const send = (m: FromWorker) => port.postMessage(m);

/** The answers to the lookups of the render in progress, asked of the host. */
let pendingAnswers: ((answers: ReadonlyArray<readonly [string, unknown]>) => void) | undefined;
let current = 0;

const engine = createTemplateEngine({
  templatesDir: settings.templatesDir,
  env: settings.env,
  ...(settings.envNames ? { envNames: settings.envNames } : {}),
  maxBytes: settings.maxBytes,
  answerLookups: (ids) =>
    new Promise((answered) => {
      pendingAnswers = answered;
      send({ type: 'lookups', id: current, ids: [...ids] });
    }),
});

/** `entry`'s recovery over the host's last good values; what it did is recorded for the host. */
function recorder(lastGood: ReadonlyMap<string, string>, conflicts: ReadonlyMap<string, string>, events: EntryEvent[]): EntryRecovery {
  return {
    lastGood: (key) => lastGood.get(key),
    conflict: (key) => conflicts.get(key),
    accepted: (key) => events.push({ accepted: key }),
    refused: (key, message, fallback) => events.push({ refused: { key, message, fallback } }),
  };
}

function errorData(err: unknown): ErrorData {
  if (err instanceof TemplateError) return { code: err.code, message: err.message, file: err.file, line: err.line, column: err.column, key: err.key };
  return { code: 'TEMPLATE_HELPER', message: err instanceof Error ? err.message : String(err) };
}

async function render(m: Extract<ToWorker, { type: 'render' }>): Promise<void> {
  current = m.id;
  const events: EntryEvent[] = [];
  try {
    const catalog = { refused: (key: string, message: string) => void events.push({ catalogRefused: { key, message } }) };
    const text = await engine.render(m.src, m.data, {
      ...(m.lastGood ? { entries: recorder(m.lastGood, m.conflicts ?? new Map(), events) } : {}),
      ...(m.services ? { services: m.services } : {}),
      ...(m.catalog ? { catalog } : {}),
    });
    send({ type: 'rendered', id: m.id, text, events });
  } catch (err) {
    send({ type: 'failed', id: m.id, error: errorData(err), events });
  }
}

port.on('message', (m: ToWorker) => {
  if (m.type === 'render') void render(m);
  else if (m.type === 'answers' && m.id === current) pendingAnswers?.(m.answers);
  else if (m.type === 'reset') engine.reset();
});
// Loaded: a render's time starts now, not while this thread started (a starved machine can take seconds).
send({ type: 'ready' });
