import type { MongoStore } from "@idemkit/mongodb";
import type { Target } from "../connection.js";
import { exported, loadOptional } from "../load.js";
import { type OpenStore, quietly, type StoreOptions } from "./types.js";

const INSTALL = "npm install @idemkit/mongodb mongodb";

interface MongoClient {
  connect(): Promise<unknown>;
  close(): Promise<void>;
  db(): object;
}

/** The MongoDB store on the URL's database (the driver's default when the URL names none). */
export async function openMongo(
  target: Extract<Target, { kind: "mongodb" }>,
  options: StoreOptions,
): Promise<OpenStore> {
  const { createMongoStore } = await loadOptional<{ createMongoStore(options: object): MongoStore }>(
    "@idemkit/mongodb",
    "a mongodb:// URL",
    INSTALL,
  );
  const MongoClient = exported<new (url: string, options: object) => MongoClient>(
    await loadOptional("mongodb", "a mongodb:// URL", INSTALL),
    "MongoClient",
  );
  const client = new MongoClient(target.url, {
    serverSelectionTimeoutMS: options.timeoutMs,
    connectTimeoutMS: options.timeoutMs,
    socketTimeoutMS: options.timeoutMs,
    appName: "idemkit-cli",
  });
  const close = () => quietly(() => client.close());
  try {
    await client.connect();
    const store = createMongoStore({ db: client.db(), collectionName: options.collection });
    return {
      store,
      name: "mongodb",
      forgetsByItself: "its TTL index deletes documents past their keepUntil",
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}
