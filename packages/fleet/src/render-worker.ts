// The render worker an agent renders with: an adoption's pass and the watch after it share it, as
// long as they render the same confdir the same way; another confdir gets a new one.
import { createRenderEngine, type RendererOptions } from '@confd-haproxy/renderer';

type Engine = NonNullable<RendererOptions['engine']>;

export class RenderWorker {
  #current: { key: string; engine: Engine } | undefined;

  /** opts with the render worker of its confdir: the one in use when it is the same, else a new one (the old one stopped). */
  with(opts: RendererOptions): RendererOptions {
    const key = `${opts.confdir}\0${opts.bundle ? 'bundle' : 'own'}`;
    if (this.#current?.key !== key) {
      void this.#current?.engine.close();
      this.#current = { key, engine: createRenderEngine(opts) };
    }
    return { ...opts, engine: this.#current.engine };
  }

  /** Stop the worker in use; the next `with` starts another. */
  async close(): Promise<void> {
    await this.#current?.engine.close();
    this.#current = undefined;
  }
}
