// Type-checks every package with its own tsconfig (tests included), one `tsc --noEmit -p` per project.
// Packages import each other's TypeScript sources through workspace `exports`, so there is nothing to build first.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

const projects = [
  "generated",
  "core",
  "scripts",
  "testkit",
  "server-node",
  "server-edge",
  "server-edge/test",
  "sdk",
  "bench",
];
let failed = 0;
for (const project of projects) {
  if (!existsSync(`${project}/tsconfig.json`)) {
    continue;
  }
  const started = Date.now();
  const { status } = spawnSync("npx", ["tsc", "--noEmit", "-p", project], { stdio: "inherit" });
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  console.log(`${status === 0 ? "ok  " : "FAIL"} ${project} (${seconds}s)`);
  if (status !== 0) {
    failed++;
  }
}
process.exit(failed === 0 ? 0 : 1);
