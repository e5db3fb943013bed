// Types of build.mjs, for the tests that import it.
/** The server-node folder. */
export declare const ROOT: string;
/** What `npm start` runs. */
export declare const MAIN: string;
/** Why `root`'s dist/main.js must be rebuilt, or null when it is up to date. */
export declare function staleReason(root?: string): string | null;
/** Builds dist/main.js. */
export declare function buildServer(): Promise<void>;
/** Builds when the build is stale; returns why it built (and how long it took), or null. */
export declare function buildIfStale(): Promise<{ reason: string; ms: number } | null>;
