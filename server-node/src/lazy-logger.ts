import type { FastifyBaseLogger, FastifyServerOptions } from "fastify";

type Bindings = Record<string, unknown>;
type ChildOptions = Parameters<FastifyBaseLogger["child"]>[1];
type Level = "fatal" | "error" | "warn" | "info" | "debug" | "trace";
/** pino's logger, which can tell whether a level is written. */
type LevelAware = FastifyBaseLogger & { isLevelEnabled(level: string): boolean };

function levelAware(logger: FastifyBaseLogger): logger is LevelAware {
  return typeof (logger as Partial<LevelAware>).isLevelEnabled === "function";
}

/**
 * A request's logger that makes pino's child (the request id bound in) only when a line is
 * written at a level the logger writes. Fastify makes one child per request, and pino's `child()`,
 * with redaction configured, was measurable on every pass-through request although at the
 * production level (info) only the access line, and at warn nothing at all, is written for most of
 * them. Lines come out exactly as from the child, which is what writes them.
 */
class LazyChildLogger {
  #child: LevelAware | undefined;

  constructor(
    private readonly parent: LevelAware,
    private readonly bindings: Bindings,
    private readonly options: ChildOptions,
  ) {}

  /** The real child, made on first use. */
  private get log(): LevelAware {
    this.#child ??= this.parent.child(this.bindings, this.options) as LevelAware;
    return this.#child;
  }

  private write(level: Level, args: unknown[]): void {
    // Below the level nothing is written, so no child is needed to write it.
    if (this.#child !== undefined || this.parent.isLevelEnabled(level)) {
      (this.log[level] as (...a: unknown[]) => void)(...args);
    }
  }

  get level(): string {
    return this.#child?.level ?? this.parent.level;
  }

  set level(level: string) {
    this.log.level = level;
  }

  isLevelEnabled(level: string): boolean {
    return (this.#child ?? this.parent).isLevelEnabled(level);
  }

  fatal(...args: unknown[]): void {
    this.write("fatal", args);
  }
  error(...args: unknown[]): void {
    this.write("error", args);
  }
  warn(...args: unknown[]): void {
    this.write("warn", args);
  }
  info(...args: unknown[]): void {
    this.write("info", args);
  }
  debug(...args: unknown[]): void {
    this.write("debug", args);
  }
  trace(...args: unknown[]): void {
    this.write("trace", args);
  }
  silent(): void {}

  child(bindings: Bindings, options?: ChildOptions): FastifyBaseLogger {
    return this.log.child(bindings, options);
  }
}

/**
 * Fastify's `childLoggerFactory`: a lazy child per request, unless the route asks for its own level
 * or serializers, or the logger is not pino (then the child at once, as Fastify's default does).
 */
export const lazyChildLogger: NonNullable<FastifyServerOptions["childLoggerFactory"]> = (
  logger,
  bindings,
  options,
) =>
  options.level !== undefined || options.serializers !== undefined || !levelAware(logger)
    ? logger.child(bindings, options)
    : (new LazyChildLogger(logger, bindings, options) as unknown as FastifyBaseLogger);
