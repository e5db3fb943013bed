import { defineConfig } from "vitest/config";

// One `npm test` runs every package's suite; each package keeps its own vitest.config.ts.
export default defineConfig({
  test: {
    projects: ["*/vitest.config.ts"],
  },
});
