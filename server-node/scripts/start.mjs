// `npm start`: rebuilds dist/main.js only when a source changed since the last build, then runs the
// server in this very process. npm runs this script with `exec`, so npm's child is this process:
// the SIGTERM a supervisor sends to `npm start` (npm passes it on) reaches the server, which
// finishes its requests and exits 0. There is no second npm or shell in between to swallow it.
import { pathToFileURL } from "node:url";
import { buildIfStale, MAIN } from "./build.mjs";

const built = await buildIfStale();
if (built !== null) {
  // stderr: stdout carries the server's log lines, JSON when it is not a terminal.
  process.stderr.write(`server-node: built dist/main.js in ${built.ms} ms (${built.reason})\n`);
}
await import(pathToFileURL(MAIN).href);
