import { KIND } from "./outcome-text.js";

/** Where the store keeps its rows. */
export interface PostgresTableOptions {
  /** Table name. Default `idemkit_keys`. The claim function is `<table>_claim`, in the same schema. */
  table?: string;
  /** Schema. Default `public`; any other schema is created by the migration if missing. */
  schema?: string;
}

/** PostgreSQL truncates longer identifiers silently, which could make two tables share a function. */
const MAX_IDENTIFIER_BYTES = 63;

/** Serialises concurrent migrations (two app instances booting at once). */
const MIGRATION_LOCK = 0x1de4_0001;

/** Quotes an identifier for SQL text: doubles embedded `"`, rejects what PostgreSQL cannot name. */
export function quoteIdentifier(name: string): string {
  if (name.length === 0 || name.includes("\u0000")) {
    throw new TypeError(`@idemkit/postgres: invalid identifier ${JSON.stringify(name)}`);
  }
  if (Buffer.byteLength(name) > MAX_IDENTIFIER_BYTES) {
    throw new TypeError(`@idemkit/postgres: identifier longer than ${MAX_IDENTIFIER_BYTES} bytes: ${name}`);
  }
  return `"${name.replaceAll('"', '""')}"`;
}

/** `text` as a dollar-quoted SQL string: read alike whatever `standard_conforming_strings` says. */
const literal = (text: string) => {
  const tag = dollarTag(text, "name");
  return `${tag}${text}${tag}`;
};

/**
 * A dollar-quote tag that does not occur in `body`, so that no table or schema name (which appear in
 * the function body, quoted) can end the body early: `$idemkit$`, else `$idemkit_1$`, `$idemkit_2$`...
 * (`name` replaces `idemkit` for a second body, so that the two tags differ.)
 */
export function dollarTag(body: string, name = "idemkit"): string {
  for (let n = 0; ; n++) {
    const tag = n === 0 ? `$${name}$` : `$${name}_${n}$`;
    if (!body.includes(tag)) return tag;
  }
}

/**
 * The outcome as one text (outcome-text.ts): an ASCII outcome is the text the client encoded, which the
 * server sends as it is; any other is `outcome_bytes`, which pg reads as text too, so it is selected as
 * "B" + base64 (a third larger than the bytes; hex would be twice). Binary results are no way out: pg 8
 * reads each field of a binary row as a UTF-8 string, which corrupts bytes.
 */
const outcomeOf = (row: string) =>
  `coalesce(${row}outcome, '${KIND.serverBase64}' || encode(${row}outcome_bytes, 'base64'))`;
const CLAIM_COLUMNS = "acquired, state, token, fingerprint, fence, deadline_ms, outcome, takeover";
/** Named, so that the migration can tell whether a converted table has it. */
const OUTCOME_CHECK = `CONSTRAINT outcome_kind CHECK (left(outcome, 1) IN ('${KIND.text}', '${KIND.base64}'))`;

/** The quoted, schema-qualified names and the SQL text of every statement the store runs. */
export function postgresStatements(options: PostgresTableOptions = {}) {
  const table = options.table ?? "idemkit_keys";
  const schema = options.schema ?? "public";
  const s = quoteIdentifier(schema);
  const t = `${s}.${quoteIdentifier(table)}`;
  const claimFn = `${s}.${quoteIdentifier(`${table}_claim`)}`;
  const index = quoteIdentifier(`${table}_keep_until_idx`);
  const ms = (param: string) => `(${param}::float8 * interval '1 millisecond')`;
  const deadline = "floor(extract(epoch FROM r.expires_at) * 1000)::float8";
  const ownedLive =
    "key_hash = $1 AND token = $2 AND state = 'in_progress' AND expires_at > statement_timestamp()";

  const claimBody = `
#variable_conflict use_column
DECLARE
  t timestamptz := statement_timestamp();
  v_fence bigint;
  v_takeover boolean;
BEGIN
  -- 1. A live record comes back without a row lock: replays and conflicts cost one index read. Its
  --    takeover flag is the one its claim stored (a retry with the owner's token reads its own).
  RETURN QUERY SELECT false, r.state, r.token, r.fingerprint, r.fence, ${deadline}, ${outcomeOf("r.")}, r.takeover
    FROM ${t} r WHERE r.key_hash = p_key_hash AND r.expires_at > t;
  IF FOUND THEN RETURN; END IF;
  -- 2a. Lock the kept row, if it is not live (a live one is left alone), and see how it ended: a
  --     takeover replaces an in_progress lease that ran out; a released row has expires_at
  --     -infinity, a completed one past retention is no takeover either. Locked, it cannot change
  --     before 2b takes it over. If it turned live meanwhile, nothing is locked and 2b takes nothing.
  SELECT r.state = 'in_progress' AND r.expires_at > '-infinity' INTO v_takeover
    FROM ${t} r WHERE r.key_hash = p_key_hash AND r.expires_at <= t FOR UPDATE;
  -- 2b. Absent or expired (or released): insert, or take the kept row over with a higher fence.
  --    ON CONFLICT never raises a unique violation (a caller's own transaction survives) and waits
  --    for a concurrent uncommitted insert of the key to commit or roll back.
  --    The row stores its takeover flag, so a claim retried with the same token reads it back.
  --    It is kept p_retention_ms past its lease end (extend moves both), however the two compare.
  INSERT INTO ${t} AS r (key_hash, key, token, fingerprint, fence, state, expires_at, keep_until,
                         takeover, claimed_at)
  VALUES (p_key_hash, p_key, p_token, p_fingerprint, 1, 'in_progress',
          t + p_lease_ms * interval '1 millisecond',
          t + (p_lease_ms + p_retention_ms) * interval '1 millisecond', coalesce(v_takeover, false), t)
  ON CONFLICT (key_hash) DO UPDATE
    SET token = excluded.token, fingerprint = excluded.fingerprint, fence = r.fence + 1,
        state = 'in_progress', outcome = NULL, outcome_bytes = NULL, expires_at = excluded.expires_at, keep_until = excluded.keep_until,
        takeover = excluded.takeover, claimed_at = excluded.claimed_at
    WHERE r.expires_at <= t
  RETURNING r.fence INTO v_fence;
  IF FOUND THEN
    RETURN QUERY SELECT true, NULL::text, NULL::text, NULL::text, v_fence, NULL::float8, NULL::text,
      coalesce(v_takeover, false);
    RETURN;
  END IF;
  -- 3. The key became live while step 2 waited. Step 2 locked the row, and this statement takes a
  --    fresh snapshot, so it sees it (a single CTE statement could not: its snapshot predates the row).
  RETURN QUERY SELECT false, r.state, r.token, r.fingerprint, r.fence, ${deadline}, ${outcomeOf("r.")}, r.takeover
    FROM ${t} r WHERE r.key_hash = p_key_hash;
END
`;
  // Table and schema names appear in the body: the quote tag must not (SQL injection via config).
  const tag = dollarTag(claimBody);

  // The claim with a bound on its lock wait, for transactional mode: a duplicate of a key whose first
  // transaction has not ended waits on that transaction's row, at most p_wait_ms, then fails with
  // SQLSTATE 55P03 (lock_not_available), which the store answers as "in progress". The function's own
  // SET clause restores the caller's lock_timeout when it returns, so the wait bound covers the claim
  // only, never the caller's own statements after it, and costs no round trip of its own.
  const waitBody = `
BEGIN
  PERFORM set_config('lock_timeout', p_wait_ms || 'ms', true);
  RETURN QUERY SELECT * FROM ${claimFn}(p_key_hash, p_key, p_token, p_fingerprint, p_lease_ms, p_retention_ms);
END
`;
  const waitTag = dollarTag(waitBody, "idemkit_wait");

  // A table of earlier builds (every outcome in a bytea column `result`): the column is renamed, with
  // no rewrite, and the text column added; an earlier build's statements then fail rather than write
  // where this one reads. (A `result` text column of a build in between holds text outcomes.) The claim
  // functions go: CREATE OR REPLACE cannot change a function's result type.
  const column = (name: string) =>
    `SELECT atttypid FROM pg_attribute WHERE attrelid = to_regclass(${literal(t)}) AND attname = '${name}' AND NOT attisdropped`;
  const formatBody = `
BEGIN
  IF NOT EXISTS (${column("outcome_bytes")}) THEN
    IF (${column("result")}) = 'bytea'::regtype THEN
      ALTER TABLE ${t} RENAME COLUMN result TO outcome_bytes;
    ELSE
      IF EXISTS (${column("result")}) THEN
        ALTER TABLE ${t} RENAME COLUMN result TO outcome;
      END IF;
      ALTER TABLE ${t} ADD COLUMN outcome_bytes bytea;
    END IF;
    ALTER TABLE ${t} ADD COLUMN IF NOT EXISTS outcome text;
    DROP FUNCTION IF EXISTS ${claimFn}(bytea, text, text, text, float8, float8, integer);
    DROP FUNCTION IF EXISTS ${claimFn}(bytea, text, text, text, float8, float8);
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = to_regclass(${literal(t)}) AND conname = 'outcome_kind') THEN
    ALTER TABLE ${t} ADD ${OUTCOME_CHECK};
  END IF;
END
`;
  const formatTag = dollarTag(formatBody, "idemkit_format");

  const schemaSql = `${schema === "public" ? "" : `CREATE SCHEMA IF NOT EXISTS ${s};\n`}
CREATE TABLE IF NOT EXISTS ${t} (
  key_hash    bytea PRIMARY KEY, -- sha256 of the UTF-8 of key: fixed size, so a key of any length fits the index
  key         text NOT NULL,     -- the key, escaped (see encodeKey in @idemkit/postgres); not indexed
  token       text NOT NULL,
  fingerprint text NOT NULL,
  fence       bigint NOT NULL,
  state       text NOT NULL CHECK (state IN ('in_progress', 'completed')),
  -- An ASCII outcome, encoded by the client: 't' + its bytes, NUL and DLE escaped ('b' + base64 from a
  -- build in between). Reads select outcome_bytes as 'B' + base64, which this column therefore cannot hold.
  outcome     text ${OUTCOME_CHECK},
  outcome_bytes bytea, -- any other outcome
  expires_at  timestamptz NOT NULL, -- lease end (in_progress) or retention end (completed); -infinity once released
  keep_until  timestamptz NOT NULL, -- the row and its fence may be purged after this (lease end + retention)
  takeover    boolean NOT NULL DEFAULT false, -- the claim that wrote the row replaced an expired lease
  claimed_at  timestamptz NOT NULL DEFAULT statement_timestamp() -- when the claim that wrote the row acquired it (list's claimedAt)
);

CREATE INDEX IF NOT EXISTS ${index} ON ${t} (keep_until);

DO ${formatTag}${formatBody}${formatTag};

-- Claim-or-reclaim in one call. Every deadline is judged by statement_timestamp(): the server's
-- clock when the statement arrived (now() would be the start of an enclosing transaction).
CREATE OR REPLACE FUNCTION ${claimFn}(
  p_key_hash bytea, p_key text, p_token text, p_fingerprint text, p_lease_ms float8, p_retention_ms float8
) RETURNS TABLE (
  acquired boolean, state text, token text, fingerprint text, fence bigint, deadline_ms float8, outcome text,
  takeover boolean
) LANGUAGE plpgsql VOLATILE AS ${tag}${claimBody}${tag};

-- The same claim, its lock wait bounded by p_wait_ms (transactional mode; see the store's README).
CREATE OR REPLACE FUNCTION ${claimFn}(
  p_key_hash bytea, p_key text, p_token text, p_fingerprint text, p_lease_ms float8, p_retention_ms float8,
  p_wait_ms integer
) RETURNS TABLE (
  acquired boolean, state text, token text, fingerprint text, fence bigint, deadline_ms float8, outcome text,
  takeover boolean
) LANGUAGE plpgsql VOLATILE SET lock_timeout = 0 AS ${waitTag}${waitBody}${waitTag};
`;

  /**
   * The completion of an owned, live row, its outcome `$3` into one of the two columns (an in-progress
   * row has neither set: each claim clears both): `text` for `outcome`, `bytes` for `outcome_bytes`.
   */
  const completion = (keepUntil: string) => {
    const into = (assignment: string) => `UPDATE ${t} SET state = 'completed', ${assignment},
      expires_at = statement_timestamp() + ${ms("$4")}, keep_until = ${keepUntil}
      WHERE ${ownedLive}`;
    return { text: into("outcome = $3"), bytes: into("outcome_bytes = $3") };
  };

  return {
    table: t,
    claimFunction: claimFn,
    schemaSql,
    // READ COMMITTED: the conversion reads the catalog after the lock is granted; a session whose default
    // is REPEATABLE READ or SERIALIZABLE would read it as it was before an earlier migration committed.
    migrateSql: `SET TRANSACTION ISOLATION LEVEL READ COMMITTED;\nSELECT pg_advisory_xact_lock(${MIGRATION_LOCK});\n${schemaSql}`,
    claim: `SELECT ${CLAIM_COLUMNS} FROM ${claimFn}($1, $2, $3, $4, $5, $6)`,
    /** The claim with its lock wait bounded: `$7` ms (an integer from 1), then SQLSTATE 55P03. */
    claimWaiting: `SELECT ${CLAIM_COLUMNS} FROM ${claimFn}($1, $2, $3, $4, $5, $6, $7::integer)`,
    complete: completion(`greatest(keep_until, statement_timestamp() + ${ms("$4")})`),
    /**
     * Transactional mode's completion, in the claim's own transaction: the row's lease was unbounded (it
     * is invisible until COMMIT), so its keep-until is set to the retention's end rather than kept.
     */
    completeOwn: completion(`statement_timestamp() + ${ms("$4")}`),
    // Release ends the lease but keeps the row, and its fence, until keep_until: the next fence is higher.
    release: `UPDATE ${t} SET expires_at = '-infinity' WHERE ${ownedLive}`,
    // keep_until moves as far as the lease end: the row stays kept the claim's retention past it.
    extend: `UPDATE ${t} SET expires_at = statement_timestamp() + ${ms("$3")},
      keep_until = keep_until + ((statement_timestamp() + ${ms("$3")}) - expires_at)
      WHERE ${ownedLive}`,
    get: `SELECT r.state, r.token, r.fingerprint, r.fence, ${deadline} AS deadline_ms, ${outcomeOf("r.")} AS outcome, r.takeover
      FROM ${t} r WHERE r.key_hash = $1 AND r.expires_at > statement_timestamp()`,
    // Operator purge: the row goes, fence included (the next claim of the key gets fence 1).
    delete: `DELETE FROM ${t} WHERE key_hash = $1 RETURNING expires_at > statement_timestamp() AS live`,
    purge: `DELETE FROM ${t} WHERE keep_until <= statement_timestamp() AND key_hash IN (
      SELECT key_hash FROM ${t} WHERE keep_until <= statement_timestamp()
      ORDER BY keep_until LIMIT $1 FOR UPDATE SKIP LOCKED)`,
  };
}

/**
 * The DDL of the store (table, purge index, claim function), for your own migration tool. Idempotent:
 * safe to run again, and it replaces the claim function with this version's.
 */
export function postgresSchemaSql(options: PostgresTableOptions = {}): string {
  return postgresStatements(options).schemaSql;
}

/** Anything that runs a statement: a `pg` Pool, Client or PoolClient. */
export interface Queryable {
  // biome-ignore lint/suspicious/noExplicitAny: pg rows are untyped
  query(text: string, values?: unknown[]): Promise<{ rows: any[]; rowCount: number | null }>;
}

/**
 * Creates the store's table and index (if missing) and its claim function (replaced), in one transaction under an
 * advisory lock (concurrent calls from several app instances are safe).
 */
export async function migrate(pool: Queryable, options: PostgresTableOptions = {}): Promise<void> {
  // Without parameters pg uses the simple protocol: the statements run as one implicit transaction.
  await pool.query(postgresStatements(options).migrateSql);
}
