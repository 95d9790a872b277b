// Koa 2 under its alias (`koa2`: npm:koa@2) offers what the tests use of Koa 3's API; @types/koa covers both.
declare module "koa2" {
  import Koa from "koa";
  export = Koa;
}
