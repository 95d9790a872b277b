import { createIdempotency } from "@idemkit/core";
import { createMongoStore } from "@idemkit/mongodb";
import { MongoClient } from "mongodb";
import { accountIdOf } from "./your-app.js";

const client = await MongoClient.connect(process.env.MONGODB_URL ?? "mongodb://127.0.0.1:27017");
const store = createMongoStore({
  collection: client.db("app").collection("idempotency_keys"),
  writeConcern: { w: "majority" }, // survives a primary failover
});
await store.ensureIndexes(); // once, at deploy or startup: the TTL index on keepUntil

const idem = createIdempotency({ store, scope: (request) => accountIdOf(request) });

// close `client` yourself on shutdown: the store never does
export { idem };
