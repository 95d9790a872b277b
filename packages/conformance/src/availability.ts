/**
 * Decides whether a server-backed suite runs. Returns `false` to run it, or a reason to skip it,
 * after printing a visible line; throws instead when `IDEMKIT_REQUIRE` (comma-separated store
 * names, or `all`) names this store, so CI cannot pass with the suite silently skipped.
 */
export function skipUnlessAvailable(store: string, problem: string | undefined): string | false {
  if (problem === undefined) return false;
  const required = (process.env.IDEMKIT_REQUIRE ?? "")
    .split(",")
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);
  if (required.includes(store.toLowerCase()) || required.includes("all")) {
    throw new Error(`IDEMKIT_REQUIRE names "${store}" but its server is not available: ${problem}`);
  }
  console.warn(`[idemkit] SKIPPING the ${store} suite: ${problem}`);
  return problem;
}
