import { describe, expect, it } from "vitest";
import { show } from "../assertions.js";
import { groups } from "../checks/index.js";
import { brokenListingStores } from "./broken-listing.js";
import { type BrokenStore, brokenStores as brokenContractStores } from "./broken-stores.js";
import { createMemoryStore, runCheck } from "./harness.js";

// The suite tests itself: every broken store (one broken promise each, a wrapped memory store) must
// fail the checks it names, with a message that says what broke. The correct memory store passes
// every check (memory.test.ts, slow-store.test.ts).
const checks = new Map(groups.flatMap((g) => g.checks.map((check) => [check.id, check] as const)));

const brokenStores: BrokenStore[] = [...brokenContractStores, ...brokenListingStores];

const messageOf = (error: unknown) => (error instanceof Error ? error.message : show(error));

describe("the broken stores", () => {
  it("have unique names and name existing checks; every check has at least one broken store that fails it", () => {
    const names = brokenStores.map((b) => b.name);
    expect(
      names.filter((name, i) => names.indexOf(name) !== i),
      "names used twice",
    ).toEqual([]);
    const unknown = brokenStores.flatMap((b) =>
      Object.keys(b.fails)
        .filter((id) => !checks.has(id))
        .map((id) => `${b.name} -> ${id}`),
    );
    expect(unknown, "checks named by a broken store that do not exist").toEqual([]);
    const proven = new Set(brokenStores.flatMap((b) => Object.keys(b.fails)));
    expect(
      [...checks.keys()].filter((id) => !proven.has(id)),
      "checks that no broken store fails: add one that only this check catches",
    ).toEqual([]);
  });
});

describe.concurrent("each broken store fails the check that proves its promise", () => {
  for (const broken of brokenStores) {
    for (const [id, says] of Object.entries(broken.fails)) {
      const check = checks.get(id);
      if (check === undefined) continue;
      it(`${broken.name} fails ${id}`, async () => {
        const error = await runCheck(check, broken.build(createMemoryStore()));
        if (error === undefined) {
          throw new Error(`the broken store "${broken.name}" (${broken.breaks}) passed "${check.title}"`);
        }
        expect(messageOf(error), `what "${check.title}" said about ${broken.name}`).toMatch(says);
      }, 30_000);
    }
  }
});

// Opt-in (IDEMKIT_CONFORMANCE_MATRIX=1): every check against every broken store, printed as a table,
// to see that each broken store breaks one promise and which other checks notice it.
describe.runIf(process.env.IDEMKIT_CONFORMANCE_MATRIX)("matrix", () => {
  it("runs every check against every broken store", async () => {
    const rows: string[] = [];
    const runAll = async (broken: BrokenStore) => {
      const failed: string[] = [];
      await Promise.all(
        [...checks.values()].map(async (check) => {
          const error = await runCheck(check, broken.build(createMemoryStore()));
          if (error !== undefined) failed.push(check.id);
        }),
      );
      const extra = failed.filter((id) => !(id in broken.fails)).sort();
      const missed = Object.keys(broken.fails).filter((id) => !failed.includes(id));
      rows.push(
        `${broken.name}: fails ${failed.length}` +
          (extra.length ? `; also ${extra.join(", ")}` : "") +
          (missed.length ? `; PASSED ${missed.join(", ")}` : ""),
      );
      return missed;
    };
    const missed: string[] = [];
    for (let i = 0; i < brokenStores.length; i += 2) {
      const batch = await Promise.all(brokenStores.slice(i, i + 2).map(runAll));
      missed.push(...batch.flat());
    }
    console.info(rows.sort().join("\n"));
    expect(missed).toEqual([]);
  }, 600_000);
});
