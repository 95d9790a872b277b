import { describe } from "./options.js";
import type { Queryable } from "./schema.js";

/**
 * The claim learns what it did from its answer's insert id, which `LAST_INSERT_ID(expr)` sets (see
 * `sql.claim`). Two things on the table make that id lie: an AUTO_INCREMENT column (the OK packet then
 * carries the generated id: fences reported wrong, even backwards) and any trigger (the statement's own
 * LAST_INSERT_ID(expr) is lost: a claim that took the key reads as one that left it, and in transactional
 * mode the key then never runs). Neither is part of the store's schema, and reading the row back after
 * every claim would cost each winning claim a second round trip, so the table is checked instead: once per
 * store, before its first claim (one round trip), and again on every claim while it is refused. A trigger
 * or column added after that first check is not seen: the README says not to.
 */
export function tableCheck(db: Pick<Queryable, "query">, table: string) {
  let clean: Promise<void> | undefined;
  const check = async () => {
    const [rows] = await db.query(
      `SELECT
  (SELECT GROUP_CONCAT(COLUMN_NAME) FROM information_schema.COLUMNS
     WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND EXTRA LIKE '%auto_increment%') AS auto_increment,
  (SELECT GROUP_CONCAT(TRIGGER_NAME) FROM information_schema.TRIGGERS
     WHERE EVENT_OBJECT_SCHEMA = DATABASE() AND EVENT_OBJECT_TABLE = ?) AS triggers`,
      [table, table],
    );
    const found = rows[0] as { auto_increment: unknown; triggers: unknown } | undefined;
    const why: string[] = [];
    if (found?.auto_increment != null) {
      why.push(`an AUTO_INCREMENT column (${String(found.auto_increment)})`);
    }
    if (found?.triggers != null) why.push(`triggers (${String(found.triggers)})`);
    if (why.length > 0) {
      throw new Error(
        `@idemkit/mysql: table ${describe(table)} has ${why.join(" and ")}: the claim reads its answer from ` +
          "LAST_INSERT_ID, which these make wrong (wrong fences, claims that took the key reported as lost). " +
          "Drop them (the store's table is its own), or give the store a table of its own",
      );
    }
  };
  return function checkTable(): Promise<void> {
    clean ??= check().catch((error) => {
      clean = undefined; // refused or not answered: checked again on the next claim
      throw error;
    });
    return clean;
  };
}
