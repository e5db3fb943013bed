export * from "./errors.js";
export * from "./idempotency-store.js";
export * from "./migrations.js";
export { PGliteDialect } from "./pglite-dialect.js";
export * from "./schema.js";
