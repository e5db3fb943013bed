import { FAILURE_PERIOD_MS, type FailureLimiter, type MemoryFailureLimiter } from "@n2store/core";

/**
 * The Worker's count of failed credential checks. Each isolate keeps its own rolling window (the
 * same one the Node server uses), and every failure is also counted by the Workers rate-limiting
 * binding (`AUTH_FAILURES` in wrangler.jsonc), which sees every isolate of a Cloudflare location:
 * when it says a client is over, this isolate blocks that client for the period. The binding only
 * counts (it cannot be asked without counting), so it is consulted on failures alone and a client is
 * refused before its credentials are checked only by an isolate that knows it is over.
 */
export class EdgeFailureLimiter implements FailureLimiter {
  constructor(
    private readonly local: MemoryFailureLimiter,
    private readonly binding: RateLimit | undefined,
  ) {}

  retryAfter(key: string): Promise<number> {
    return this.local.retryAfter(key);
  }

  async fail(key: string): Promise<number> {
    const wait = await this.local.fail(key);
    if (this.binding === undefined) {
      return wait;
    }
    const { success } = await this.binding.limit({ key });
    if (success) {
      return wait;
    }
    const period = FAILURE_PERIOD_MS / 1000;
    this.local.block(key, period);
    return Math.max(wait, period);
  }
}
