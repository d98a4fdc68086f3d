/** Shared test fixtures: the store on a fresh database of each kind, branded ids, a database dump. */
import { SqlClient } from "@effect/sql/SqlClient"
import type { Member } from "@mx-aggregation/domain"
import { Effect, Layer } from "effect"
import { AggregationRuns, Store, TestDatabase } from "../src/index.js"

/** The store's services and its `SqlClient` on a fresh, migrated database of `kind`. */
export const storeLayer = (kind: TestDatabase.Kind) => Store.layer.pipe(Layer.provideMerge(TestDatabase.layer(kind)))

export const memberGuid = (n: number | string) => `MBR-${n}` as Member.MemberGuid
export const userGuid = (n: number | string) => `USR-${n}` as Member.UserGuid
export const runId = (n: number | string) => AggregationRuns.RunId.make(`RUN-${n}`)

/** Every row of every table, as JSON text: what an attacker reading the database would see. */
export const dumpDatabase = Effect.gen(function*() {
  const sql = yield* SqlClient
  const tables = yield* sql.onDialectOrElse({
    pg: () => sql<{ name: string }>`SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public'`,
    orElse: () => sql<{ name: string }>`SELECT name FROM sqlite_master WHERE type = 'table'`
  })
  const dump: Record<string, ReadonlyArray<unknown>> = {}
  for (const { name } of tables) {
    dump[name] = yield* sql`SELECT * FROM ${sql(name)}`
  }
  return dump
})
