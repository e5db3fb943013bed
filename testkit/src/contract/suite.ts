/**
 * The contract suite: every case of `cases/` run against each selected target (`TARGETS=node,edge`),
 * one `describe` per runtime and operation, every response validated against the spec; a coverage
 * gate that fails when an operation a runtime serves (or, on the edge, a Node-only operation's 501)
 * has no case; spec-driven fuzzing; and per-runtime counts printed at the end.
 */
import type { OperationId, Runtime } from "@n2store/generated";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { contractCases } from "./cases/index.js";
import { type CaseKind, type ContractCase, createCaseContext } from "./context.js";
import { type FuzzOptions, type FuzzReport, fuzzTarget } from "./fuzz.js";
import { servedBy, specOperation, specOperations } from "./spec.js";
import {
  type ContractWorld,
  type StartedTarget,
  selectedRuntimes,
  startWorld,
  type TargetStarter,
  type WorldOptions,
} from "./target.js";
import { ResponseValidator } from "./validate.js";

/** Options of runContractSuite. */
export interface SuiteOptions extends WorldOptions {
  /** Where the summary lines go (test files pass `console.log`; library code never prints). */
  readonly log: (line: string) => void;
  /** The cases to run (default: every case of `cases/`). */
  readonly cases?: readonly ContractCase[];
  /** Fuzzing options, or false to skip it. */
  readonly fuzz?: Partial<FuzzOptions> | false;
}

/** The runtimes a case runs on. */
function caseRuntimes(contractCase: ContractCase): readonly Runtime[] {
  if (contractCase.runtimes !== undefined) {
    return contractCase.runtimes;
  }
  const { spec } = specOperation(contractCase.operationId);
  const all: Runtime[] = ["node", "edge"];
  return contractCase.kind === "not-served"
    ? all.filter((runtime) => !servedBy(spec, runtime))
    : all.filter((runtime) => servedBy(spec, runtime));
}

/** Whether an operation takes any input a request can get wrong (so it needs a negative case). */
function takesInput(operationId: OperationId): boolean {
  const operation = specOperation(operationId);
  return (
    operation.parameters.length > 0 || operation.requestBody !== null || operation.spec.security.length > 0
  );
}

/**
 * What the coverage gate requires of a runtime, as a list of problems (empty when covered): every
 * operation it serves has a happy case, and a negative case when it takes input; on the edge, every
 * Node-only operation has its 501 case. Cases naming an operation the spec lacks are problems too.
 */
export function coverageProblems(cases: readonly ContractCase[], runtime: Runtime): string[] {
  const problems: string[] = [];
  const kinds = new Map<OperationId, Set<CaseKind>>();
  for (const contractCase of cases) {
    if (!specOperations.some((operation) => operation.id === contractCase.operationId)) {
      problems.push(`${contractCase.operationId}: not an operation of the spec ("${contractCase.name}")`);
      continue;
    }
    if (caseRuntimes(contractCase).includes(runtime)) {
      const set = kinds.get(contractCase.operationId) ?? new Set<CaseKind>();
      set.add(contractCase.kind);
      kinds.set(contractCase.operationId, set);
    }
  }
  for (const operation of specOperations) {
    const have = kinds.get(operation.id) ?? new Set<CaseKind>();
    if (!servedBy(operation.spec, runtime)) {
      if (!have.has("not-served")) {
        problems.push(`${operation.id}: no case for the ${runtime}'s 501 NOT_SERVED_BY_RUNTIME`);
      }
      continue;
    }
    if (!have.has("happy")) {
      problems.push(`${operation.id}: no happy-path case on ${runtime}`);
    }
    if (takesInput(operation.id) && !have.has("negative")) {
      problems.push(`${operation.id}: no negative case on ${runtime}`);
    }
  }
  return problems;
}

interface RuntimeStats {
  passed: number;
  failed: number;
  readonly covered: Set<OperationId>;
  fuzz: FuzzReport | null;
}

/** Registers the contract suite for the starters `TARGETS` selects, sharing one world between them. */
export function runContractSuite(starters: readonly TargetStarter[], options: SuiteOptions): void {
  const wanted = selectedRuntimes();
  const active = starters.filter((starter) => wanted.includes(starter.runtime));
  const cases = options.cases ?? contractCases;
  if (active.length === 0) {
    describe.skip(`contract (TARGETS=${wanted.join(",")} selects none of ${starters.map((s) => s.runtime).join(", ")})`, () => {
      it("runs nothing", () => {});
    });
    return;
  }

  const validator = new ResponseValidator();
  const stats = new Map<Runtime, RuntimeStats>(
    active.map((starter) => [starter.runtime, { passed: 0, failed: 0, covered: new Set(), fuzz: null }]),
  );
  let world: ContractWorld | undefined;
  const targets = new Map<Runtime, StartedTarget>();
  const targetOf = (runtime: Runtime): StartedTarget => {
    const target = targets.get(runtime);
    if (target === undefined || world === undefined) {
      throw new Error(`the ${runtime} target did not start`);
    }
    return target;
  };

  beforeAll(async () => {
    world = await startWorld(options);
    // One after the other: the Node server migrates a shared database before the Worker uses it.
    for (const starter of active) {
      targets.set(starter.runtime, await starter.start(world));
    }
  }, 180_000);

  afterEach(() => {
    // A case that failed half-way must not leave a fault armed for the next one.
    if (world !== undefined) {
      for (const fake of [
        world.fakes.tpos,
        world.fakes.pancake,
        world.fakes.pancakeContent,
        world.fakes.pagesFm,
        world.fakes.graph,
        world.fakes.cdn,
        world.fakes.phoenix,
      ]) {
        fake.fault.clear();
      }
      world.fakes.graph.setResponseDelay(0);
    }
  });

  afterAll(async () => {
    for (const [runtime, stat] of stats) {
      const required = specOperations.length;
      const failed = stat.failed > 0 ? `, ${stat.failed} failed` : "";
      options.log(
        `contract ${runtime}: ${stat.covered.size}/${required} operations covered, ${stat.passed} cases passed${failed}`,
      );
      if (stat.fuzz !== null) {
        options.log(stat.fuzz.summary);
      }
    }
    for (const target of targets.values()) {
      await target.close().catch(() => {});
    }
    await world?.close();
  }, 60_000);

  for (const starter of active) {
    const runtime = starter.runtime;
    const stat = stats.get(runtime) as RuntimeStats;

    describe(`${runtime}: coverage`, () => {
      it("has a case for every operation of the spec on this runtime (the edge's 501 for Node-only ones)", () => {
        expect(coverageProblems(cases, runtime)).toEqual([]);
      });
    });

    const byOperation = new Map<OperationId, ContractCase[]>();
    for (const contractCase of cases) {
      if (caseRuntimes(contractCase).includes(runtime)) {
        const list = byOperation.get(contractCase.operationId) ?? [];
        list.push(contractCase);
        byOperation.set(contractCase.operationId, list);
      }
    }
    for (const operation of specOperations) {
      const list = byOperation.get(operation.id);
      if (list === undefined) {
        continue;
      }
      describe(`${runtime}: ${operation.id}`, () => {
        for (const contractCase of list) {
          it(contractCase.name, async () => {
            const ctx = createCaseContext({
              target: targetOf(runtime),
              fakes: (world as ContractWorld).fakes,
              validator,
            });
            try {
              await contractCase.run(ctx);
            } catch (error) {
              stat.failed += 1;
              throw error;
            }
            expect(ctx.verdicts.length, "a case sends at least one request").toBeGreaterThan(0);
            stat.passed += 1;
            stat.covered.add(operation.id);
          });
        }
      });
    }

    if (options.fuzz !== false) {
      const fuzzOptions = options.fuzz ?? {};
      describe(`${runtime}: fuzz`, () => {
        it("answers schema-generated requests without a 5xx beyond the declared 502/504, every 4xx in the Error shape", async () => {
          const report = await fuzzTarget({
            target: targetOf(runtime),
            fakes: (world as ContractWorld).fakes,
            validator,
            options: fuzzOptions,
          });
          stat.fuzz = report;
          expect(report.problems, report.summary).toEqual([]);
        }, 240_000);
      });
    }
  }
}
