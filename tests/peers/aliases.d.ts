// better-sqlite3 11 under its alias has the same API as 12, and @types/better-sqlite3 covers both.
declare module "better-sqlite3-11" {
  import Database from "better-sqlite3";
  export = Database;
}
