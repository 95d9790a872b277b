import { SCHEMES } from "./connection.js";

/** `idemkit --help`. */
export const USAGE = `idemkit: look at and clear the records of an idemkit store

Usage: idemkit <command> [options]

Commands:
  inspect <key>     the key's live record: state, fence, owner token, fingerprint, deadline, outcome
  list              the live records (--in-progress --older-than 5m: the stuck keys)
  purge <key>       remove the key's record whatever its state, fence included
  purge-expired     delete records past their keep-until time (SQLite, PostgreSQL, MySQL; Redis and
                    MongoDB forget them by themselves)
  stats             how many live records, by state, and the oldest claim in progress
  ping              one round trip to the store (for health checks)

The store:
  --url <url>             the store; default IDEMKIT_STORE_URL, else REDIS_URL or DATABASE_URL (one of them)
                          ${SCHEMES}
  --table <name>          SQLite, PostgreSQL and MySQL table (default idemkit_keys)
  --schema <name>         PostgreSQL schema (default public)
  --collection <name>     MongoDB collection (default idempotency_keys)
  --redis-prefix <text>   the Redis store's prefix option (default none)
  --redis-client <lib>    ioredis or node-redis (default: the one installed, ioredis first)
  --timeout <duration>    connecting, and each call to the store (default 10s)

Keys (inspect, purge, list, stats):
  A key is the stored key, as list prints it (idem:http:4:acme:order-1). To write it the way your app
  composes it, give its parts:
  --scope <scope>         the request's scope: the positional argument is then the client's key
  --run                   a key of idem.run() (default: an HTTP key)
  --key-prefix <text>     the app's keyPrefix (default idem:)

Listing (list, stats):
  --in-progress | --completed   only records in this state (list)
  --older-than <duration>       only records claimed at least this long ago (30s, 5m, 1h30m, 2d)
  --prefix <text>               only keys that start with this text (after --scope's part, if given)
  --limit <n>                   the most records to print (list; default 100)
  --cursor <cursor>             go on where a previous list stopped (list)

Output:
  --json                  one JSON document on stdout (errors: one on stderr)
  --outcome               inspect: print the outcome bytes (base64) too
  -h, --help, --version

Exit codes: 0 done; 1 the key has no live record (inspect, purge); 2 usage error; 3 a package it
needs is not installed, or the store cannot do it; 4 the store failed or did not answer.
`;
