import type { Logger } from "../ports/runtime.js";
import type { IdempotencyStore, KeyRef, Progress } from "./store.js";

/**
 * Per-key progress, as a handler sees it (`deps.progress`, present only for a keyed call). A
 * handler that makes several upstream calls records each one as soon as it went out; if a later
 * one is refused definitely (`nothingSent`), the key is released with that progress, and the retry
 * with the same key gets it back and skips the steps already done, so none runs twice.
 */
export interface CallProgress {
  /** What an earlier attempt under this key (or this one) recorded for `step`; undefined if nothing. */
  get(step: string): unknown;
  /**
   * Records `step` as done with a JSON `value`; resolves once it is stored. It never rejects: a
   * step that cannot be stored makes the call's outcome unreleasable (a later failure is stored,
   * never retried), because the retry would not know the step went out.
   */
  record(step: string, value: unknown): Promise<void>;
}

/** The progress of one keyed call, kept in the idempotency store. */
export class KeyProgress implements CallProgress {
  private readonly steps: Record<string, unknown>;
  private lostStep = false;

  constructor(
    private readonly store: IdempotencyStore,
    private readonly ref: KeyRef,
    earlier: Progress,
    private readonly log: Logger,
  ) {
    this.steps = { ...earlier };
  }

  /** Whether a step went out that the store does not know of. */
  get lost(): boolean {
    return this.lostStep;
  }

  get(step: string): unknown {
    return this.steps[step];
  }

  async record(step: string, value: unknown): Promise<void> {
    this.steps[step] = value;
    try {
      await this.store.saveProgress(this.ref, { ...this.steps });
    } catch (error) {
      this.lostStep = true;
      this.log.error({ err: error, step }, "could not record the progress of an idempotent call");
    }
  }
}
