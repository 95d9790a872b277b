// The CLI on MongoDB, when MONGODB_URL names a server (none runs in this repository's CI): the same
// scenario as the other stores (see testing/scenario.ts), on a collection of its own.
import { randomBytes } from "node:crypto";
import { skipUnlessAvailable } from "@idemkit/conformance";
import { createMongoStore, type MongoStore } from "@idemkit/mongodb";
import { MongoClient } from "mongodb";
import { storeScenario } from "./testing/scenario.js";

const url = process.env.MONGODB_URL;
const skip = skipUnlessAvailable("mongodb", url ? undefined : "MONGODB_URL is not set");
const collectionName = `idemkit_cli_${randomBytes(4).toString("hex")}`;

storeScenario("idemkit on MongoDB", skip, () => {
  const client = new MongoClient(url as string);
  let store: MongoStore;
  return {
    async store() {
      await client.connect();
      store = createMongoStore({ db: client.db(), collectionName });
      return store;
    },
    async close() {
      await client
        .db()
        .collection(collectionName)
        .drop()
        .catch(() => {});
      await client.close();
    },
    async age(key) {
      await store.collection.updateOne({ _id: key }, [
        { $set: { claimedAt: { $subtract: ["$claimedAt", 600_000] } } },
      ]);
    },
    args: ["--url", url as string, "--collection", collectionName],
    purges: false,
  };
});
