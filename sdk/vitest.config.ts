import { defineProject } from "vitest/config";

export default defineProject({
  test: {
    name: "sdk",
    include: ["test/**/*.test.ts"],
    restoreMocks: true,
    unstubGlobals: true,
    testTimeout: 10_000,
  },
});
