// The spec's types. `npm run build` replaces the emitted dist/spec.d.ts with a copy of
// generated/openapi.d.ts, so the published declarations never name @n2store/generated.
export type { components, operations, paths } from "@n2store/generated/openapi";
