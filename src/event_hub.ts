/**
 * A small typed event hub: listeners, async iteration and "wait for one event".
 *
 * @module
 */

import { RequestTimeoutError } from "./errors.ts";

/** One event as yielded by {@linkcode EventHub.iterate}. */
export type EventOf<M> = { [K in keyof M & string]: { event: K; data: M[K] } }[keyof M & string];

type AnyListener = (event: string, data: unknown) => void;

/**
 * Typed events with three ways to consume them: `on` (callback, returns an
 * unsubscribe function), `iterate` (async iterator), `waitFor` (a promise for
 * the next matching event).
 *
 * The hub can be closed with a reason (the engine stopped or crashed): open
 * iterators finish and pending `waitFor` calls reject with that reason. `open()`
 * starts a new round (after a restart); `on` listeners survive both.
 *
 * Nothing is buffered without a consumer: `on` handlers run synchronously and
 * `waitFor` keeps no events. Only an iterator queues, for a consumer that is
 * slower than the events; its queue holds at most `maxQueued` events, further
 * events are dropped for that iterator and counted in {@linkcode EventHub.dropped}.
 *
 * @example Waiting for an event
 * ```ts
 * import { EventHub } from "./event_hub.ts";
 * const hub = new EventHub<{ ping: { n: number } }>();
 * const next = hub.waitFor("ping", (d) => d.n > 1);
 * hub.emit("ping", { n: 1 });
 * hub.emit("ping", { n: 2 });
 * console.log(await next); // { n: 2 }
 * ```
 */
export class EventHub<M extends object> {
  readonly #listeners = new Set<AnyListener>();
  readonly #closeHooks = new Set<(reason: Error) => void>();
  readonly #queues = new Set<unknown[]>();
  readonly #maxQueued: number;
  #dropped = 0;
  #closedReason: Error | undefined;

  /**
   * Creates a hub.
   *
   * @param options `maxQueued`: how many events one iterator may hold for a slow
   *   consumer (default 10 000).
   */
  constructor(options: { maxQueued?: number } = {}) {
    this.#maxQueued = options.maxQueued ?? 10_000;
  }

  /** Events dropped because an iterator's queue was full (since the hub was made). */
  get dropped(): number {
    return this.#dropped;
  }

  /** Events currently queued in iterators, not yet consumed. */
  get buffered(): number {
    let n = 0;
    for (const q of this.#queues) n += q.length;
    return n;
  }

  /**
   * Calls `handler` for every `event`.
   *
   * @param event Event name.
   * @param handler Receives the event data.
   * @returns A function that unsubscribes.
   */
  on<K extends keyof M & string>(event: K, handler: (data: M[K]) => void): () => void {
    return this.onAny((name, data) => {
      if (name === event) handler(data as M[K]);
    });
  }

  /**
   * Calls `handler` for every event, including ones this version does not know.
   *
   * @param handler Receives the event name and data.
   * @returns A function that unsubscribes.
   */
  onAny(handler: (event: string, data: unknown) => void): () => void {
    const listener: AnyListener = (event, data) => handler(event, data);
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  /**
   * Delivers an event to every listener; a throwing listener is reported on
   * stderr and does not stop the others.
   *
   * @param event Event name.
   * @param data Event data.
   */
  emit(event: string, data: unknown): void {
    for (const listener of [...this.#listeners]) {
      try {
        listener(event, data);
      } catch (err) {
        console.error(`smartstorage: a listener for "${event}" threw:`, err);
      }
    }
  }

  /**
   * Resolves with the data of the next `event` for which `predicate` is true.
   *
   * @param event Event name.
   * @param predicate Filter; default: any.
   * @param timeoutMs Reject after this many ms; default 10 000.
   * @returns The event data.
   * @throws {RequestTimeoutError} When no matching event arrives in time.
   */
  waitFor<K extends keyof M & string>(
    event: K,
    predicate: (data: M[K]) => boolean = () => true,
    timeoutMs = 10_000,
  ): Promise<M[K]> {
    if (this.#closedReason !== undefined) return Promise.reject(this.#closedReason);
    return new Promise<M[K]>((resolve, reject) => {
      const cleanup = () => {
        clearTimeout(timer);
        off();
        this.#closeHooks.delete(onClose);
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new RequestTimeoutError(`waiting for event ${event}`, timeoutMs));
      }, timeoutMs);
      const onClose = (reason: Error) => {
        cleanup();
        reject(reason);
      };
      this.#closeHooks.add(onClose);
      const off = this.on(event, (data) => {
        let match: boolean;
        try {
          match = predicate(data);
        } catch (err) {
          cleanup();
          reject(err instanceof Error ? err : new Error(String(err)));
          return;
        }
        if (match) {
          cleanup();
          resolve(data);
        }
      });
    });
  }

  /**
   * Iterates over events from now on until the hub closes (or the loop breaks).
   *
   * @param names Only these events; default: all.
   * @returns An async iterator of `{ event, data }`.
   */
  iterate(names: readonly (keyof M & string)[] = []): AsyncIterableIterator<EventOf<M>> {
    const queue: EventOf<M>[] = [];
    let wake: (() => void) | undefined;
    let done = this.#closedReason !== undefined;
    const maxQueued = this.#maxQueued;
    const off = this.onAny((event, data) => {
      if (names.length > 0 && !names.includes(event as keyof M & string)) return;
      if (queue.length >= maxQueued) {
        this.#dropped += 1;
        return;
      }
      queue.push({ event, data } as EventOf<M>);
      wake?.();
    });
    const queues = this.#queues;
    queues.add(queue);
    const onClose = () => {
      // Queued events are still delivered; nothing new arrives after the close.
      done = true;
      off();
      wake?.();
    };
    if (done) off();
    else this.#closeHooks.add(onClose);
    const closeHooks = this.#closeHooks;
    async function* generate(): AsyncGenerator<EventOf<M>> {
      try {
        for (;;) {
          const next = queue.shift();
          if (next !== undefined) {
            yield next;
            continue;
          }
          if (done) return;
          await new Promise<void>((resolve) => (wake = resolve));
          wake = undefined;
        }
      } finally {
        off();
        closeHooks.delete(onClose);
        queues.delete(queue);
        queue.length = 0;
      }
    }
    return generate();
  }

  /**
   * Ends every open iterator and rejects every pending `waitFor` with `reason`;
   * later `waitFor` calls reject at once until {@linkcode EventHub.open}.
   *
   * @param reason Why events stopped.
   */
  close(reason: Error): void {
    if (this.#closedReason !== undefined) return;
    this.#closedReason = reason;
    for (const hook of [...this.#closeHooks]) hook(reason);
  }

  /** Accepts `waitFor`/`iterate` again after a {@linkcode EventHub.close}. */
  open(): void {
    this.#closedReason = undefined;
  }
}
