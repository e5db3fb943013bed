import { defineProject } from "vitest/config";

export default defineProject({
  test: {
    name: "core",
    include: ["**/*.test.ts"],
    exclude: ["**/node_modules/**"],
    restoreMocks: true,
  },
});
