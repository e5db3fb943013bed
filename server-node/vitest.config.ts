import { defineProject } from "vitest/config";

export default defineProject({
  test: {
    name: "server-node",
    include: ["test/**/*.test.ts", "src/**/*.test.ts"],
    exclude: ["**/node_modules/**"],
    restoreMocks: true,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Each file starts its own servers and fakes on ephemeral loopback ports.
    fileParallelism: true,
  },
});
