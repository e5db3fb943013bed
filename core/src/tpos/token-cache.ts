import type { Schema } from "@n2store/generated";
import type { Clock } from "../ports/runtime.js";

type TokenResponse = Schema<"TokenResponse">;

/** Tokens are served from the cache until this long before they expire. */
export const REFRESH_BUFFER_MS = 5 * 60 * 1000;

interface Entry {
  readonly token: TokenResponse;
  readonly expiresAt: number;
}

/**
 * TPOS tokens cached per credential. The key is a hash of the credential (never the password);
 * concurrent misses for one key share one upstream call (single-flight); failures are not cached.
 * The cache lives in one process (or one Worker isolate) and holds at most `maxEntries` tokens,
 * dropping the least recently used.
 */
export class TokenCache {
  private readonly entries = new Map<string, Entry>();
  private readonly inFlight = new Map<string, Promise<TokenResponse>>();

  constructor(
    private readonly clock: Clock,
    private readonly maxEntries = 1000,
  ) {}

  /** A cached token with `expires_in` counting down, or undefined when absent or about to expire. */
  get(key: string): TokenResponse | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) {
      return undefined;
    }
    const now = this.clock.now();
    if (now >= entry.expiresAt - REFRESH_BUFFER_MS) {
      this.entries.delete(key);
      return undefined;
    }
    // Refresh the entry's place for least-recently-used eviction.
    this.entries.delete(key);
    this.entries.set(key, entry);
    return { ...entry.token, expires_in: Math.max(0, Math.floor((entry.expiresAt - now) / 1000)) };
  }

  /**
   * The cached token, or the one `fetch` gets: the first miss for a key calls it, every concurrent
   * miss for the same key waits for that call. A token valid for less than the buffer is returned
   * but not cached.
   */
  async getOrFetch(
    key: string,
    fetch: () => Promise<TokenResponse>,
  ): Promise<{ token: TokenResponse; cached: boolean }> {
    const hit = this.get(key);
    if (hit !== undefined) {
      return { token: hit, cached: true };
    }
    let flight = this.inFlight.get(key);
    if (flight === undefined) {
      flight = (async () => {
        try {
          const token = await fetch();
          const expiresAt = this.clock.now() + token.expires_in * 1000;
          if (expiresAt - REFRESH_BUFFER_MS > this.clock.now()) {
            this.store(key, { token, expiresAt });
          }
          return token;
        } finally {
          this.inFlight.delete(key);
        }
      })();
      this.inFlight.set(key, flight);
    }
    return { token: await flight, cached: false };
  }

  /** How many tokens are cached. */
  get size(): number {
    return this.entries.size;
  }

  private store(key: string, entry: Entry): void {
    this.entries.delete(key);
    this.entries.set(key, entry);
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest === undefined) {
        break;
      }
      this.entries.delete(oldest);
    }
  }
}
