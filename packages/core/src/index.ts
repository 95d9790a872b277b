export { createMemoryStore, type MemoryStoreOptions } from "./memory-store.js";
export type {
  ClaimRequest,
  ClaimResult,
  CompletedRecord,
  CompleteRequest,
  IdempotencyRecord,
  IdempotencyStore,
  InProgressRecord,
} from "./store.js";
export type { TransactionalOutput, TransactionalResult, TransactionalStore } from "./transactional.js";
