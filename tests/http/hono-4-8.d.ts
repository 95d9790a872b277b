// Hono 4.8 under its alias (`hono-4-8`: npm:hono@4.8.0), typed as the workspace's Hono: the tests use
// nothing of its API that 4.13 changed.
declare module "hono-4-8" {
  export * from "hono";
}
declare module "hono-4-8/http-exception" {
  export * from "hono/http-exception";
}
declare module "hono-4-8/validator" {
  export * from "hono/validator";
}
