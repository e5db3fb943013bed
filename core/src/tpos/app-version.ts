const VERSION = /^\d+\.\d+\.\d+\.\d+$/;

/**
 * The `tposappversion` header TPOS expects. TPOS rejects stale app versions, so like the original
 * gateway this adopts a newer value when TPOS sends one back in a response header, starting from
 * `TPOS_APP_VERSION`.
 */
export class TposAppVersion {
  private current: string;

  constructor(initial: string) {
    this.current = initial;
  }

  get value(): string {
    return this.current;
  }

  /** Adopts the version a TPOS response announced, when it looks like one (`6.5.14.1`). */
  learn(announced: string | undefined): void {
    if (announced !== undefined && VERSION.test(announced) && announced !== this.current) {
      this.current = announced;
    }
  }
}
