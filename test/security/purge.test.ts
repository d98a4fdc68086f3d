/**
 * Erasure of a member for a data-retention request: `DELETE /members/:guid?purge=true` (and
 * `mx-aggregation purge`) removes everything the worker stored about it, on SQLite and PostgreSQL,
 * leaves every other member's rows as they were, makes no MX call, and is refused (409) while a run is
 * active for the member.
 */
import { HttpClientRequest, Terminal } from "@effect/platform"
import { NodeContext } from "@effect/platform-node"
import { SqlClient } from "@effect/sql"
import { assert, describe, layer } from "@effect/vitest"
import { Member } from "@mx-aggregation/domain"
import { Sandbox } from "@mx-aggregation/mx-sandbox"
import { Migrations, TestDatabase } from "@mx-aggregation/store"
import * as Cli from "@mx-aggregation/worker/cli/Cli"
import * as StandardInput from "@mx-aggregation/worker/cli/StandardInput"
import { ConfigProvider, Console, Effect, Layer, Option, Redacted } from "effect"
import { controlClient, ended, harness, newMember, pendingChallenge, token } from "../worker/harness.js"
import { assertProblem, baseUrl, send } from "./support.js"

const bearer = Redacted.value(token)

/** Every table of the database: the store's migrations' and the workflow engine's (`cluster_*`). */
const allTables = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const names = yield* sql.onDialectOrElse({
    pg: () => sql<{ name: string }>`SELECT tablename AS name FROM pg_tables WHERE schemaname = current_schema()`,
    orElse: () => sql<{ name: string }>`SELECT name FROM sqlite_master WHERE type = 'table'`
  })
  return names.map((t) => t.name).filter((name) => !name.startsWith("sqlite_")).sort()
})

/** The engine's tables change on their own (runner heartbeats, locks): rows are compared in the store's. */
const storeTables = Effect.map(allTables, (names) => names.filter((name) => !name.startsWith("cluster_")))

/** Every row of the given tables, as JSON text per table. */
const dump = (tables: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const rows: Record<string, Array<string>> = {}
    for (const table of tables) {
      rows[table] = (yield* sql`SELECT * FROM ${sql(table)}`).map((row) => JSON.stringify(row)).sort()
    }
    return rows
  })

const mentioning = (rows: Record<string, Array<string>>, needles: ReadonlyArray<string>) =>
  Object.fromEntries(
    Object.entries(rows).map(([table, lines]) => [table, lines.filter((l) => needles.some((n) => l.includes(n)))])
      .filter(([, lines]) => lines.length > 0)
  )

const without = (rows: Record<string, Array<string>>, needles: ReadonlyArray<string>) =>
  Object.fromEntries(
    Object.entries(rows).map(([table, lines]) => [table, lines.filter((l) => !needles.some((n) => l.includes(n)))])
  )

const purge = (memberGuid: string) =>
  send((base) =>
    HttpClientRequest.del(`${base}/members/${memberGuid}?purge=true`).pipe(HttpClientRequest.bearerToken(bearer))
  )

/** A member aggregated through an MFA round: runs, observations, a challenge, accounts, transactions, events. */
const aggregatedWithMfa = Effect.gen(function*() {
  const client = yield* controlClient
  const member = yield* newMember("challenge")
  const triggered = yield* client.members.aggregate({ path: { memberGuid: member.memberGuid } })
  const challenge = yield* pendingChallenge(member.memberGuid)
  yield* client.members.answer({
    path: { memberGuid: member.memberGuid },
    payload: {
      answers: [new Member.CredentialValue({ guid: challenge.challenges[0]!.guid, value: Redacted.make("correct") })]
    }
  })
  const { run } = yield* ended(triggered.runId as any)
  assert.strictEqual(run.outcome, "connected")
  return { ...member, runId: run.runId as string }
})

describe.each(TestDatabase.kinds)("purge on %s", (kind) => {
  layer(harness({ kind }), { excludeTestServices: true })((it) => {
    it.effect("removes every row of the member from every table of the store; other members' rows stay as they were", () =>
      Effect.gen(function*() {
        const mx = yield* Sandbox.Sandbox
        const target = yield* aggregatedWithMfa
        const other = yield* aggregatedWithMfa
        const tables = yield* storeTables
        assert.includeMembers(tables, [Migrations.table, "tracked_members", "run_observations", "outbox_events"])
        const everywhere = yield* allTables
        assert.include(everywhere, "cluster_messages")
        // Observations hold the run id only: the member is found through its runs.
        const needles = [target.memberGuid, target.runId]
        const before = yield* dump(tables)
        assert.includeMembers(Object.keys(mentioning(before, needles)), [
          "tracked_members",
          "aggregation_runs",
          "run_observations",
          "pending_challenges",
          "accounts",
          "transactions",
          "pull_watermarks",
          "outbox_events"
        ])
        assert.isNotEmpty(
          mentioning(yield* dump(everywhere), needles)["cluster_messages"] ?? [],
          "the workflow engine's journal holds the member's runs"
        )
        const mxBefore = yield* mx.stats

        const response = yield* purge(target.memberGuid)
        assert.strictEqual(response.status, 200, response.text)
        const purged = JSON.parse(response.text)
        assert.isTrue(purged.purged)
        assert.strictEqual(purged.removed.trackedMembers, 1)
        for (const [table, rows] of Object.entries(purged.removed)) assert.isAbove(rows as number, 0, table)

        const after = yield* dump(tables)
        assert.deepStrictEqual(
          mentioning(yield* dump(everywhere), needles),
          {},
          "nothing of the member remains anywhere"
        )
        assert.deepStrictEqual(after, without(before, needles), "every other row is as it was")
        assert.isNotEmpty(mentioning(after, [other.memberGuid, other.runId])["accounts"] ?? [])
        const mxAfter = yield* mx.stats
        assert.strictEqual(mxAfter.requests, mxBefore.requests, "no MX call")
        assert.strictEqual(mxAfter.deletes.members, 0)

        assertProblem(assert, yield* purge(target.memberGuid), 404, "purged already: nothing stored")
        const client = yield* controlClient
        assert.isNull(
          (yield* client.members.list({ urlParams: { userGuid: target.userGuid } })).members[0] ?? null,
          "the member is no longer listed"
        )
      }))

    it.effect("is refused with 409 while a run is active for the member, and allowed once it ended", () =>
      Effect.gen(function*() {
        const client = yield* controlClient
        const member = yield* newMember("challenge")
        const triggered = yield* client.members.aggregate({ path: { memberGuid: member.memberGuid } })
        const challenge = yield* pendingChallenge(member.memberGuid)
        const refused = assertProblem(assert, yield* purge(member.memberGuid), 409, "active run")
        assert.include(String(refused["detail"]), "active run")
        assert.strictEqual(
          (yield* client.members.get({ path: { memberGuid: member.memberGuid } })).member.activeRunId,
          triggered.runId
        )
        yield* client.members.answer({
          path: { memberGuid: member.memberGuid },
          payload: {
            answers: [
              new Member.CredentialValue({ guid: challenge.challenges[0]!.guid, value: Redacted.make("correct") })
            ]
          }
        })
        yield* ended(triggered.runId as any)
        assert.strictEqual((yield* purge(member.memberGuid)).status, 200)
      }))
  })
})

/** A terminal that answers `answer` to the one question it is asked, and records what it showed. */
const terminal = (isTTY: boolean, answer: string, shown: Array<string>) =>
  Terminal.Terminal.of({
    columns: Effect.succeed(80),
    rows: Effect.succeed(24),
    isTTY: Effect.succeed(isTTY),
    readInput: Effect.dieMessage("not used"),
    readLine: Effect.succeed(answer),
    display: (text) => Effect.sync(() => void shown.push(text))
  })

const cli = (args: ReadonlyArray<string>, term: Terminal.Terminal) =>
  Effect.gen(function*() {
    const url = yield* baseUrl
    const out: Array<string> = []
    const err: Array<string> = []
    const base = yield* Console.consoleWith(Effect.succeed)
    const code = yield* Cli.main(["node", "mx-aggregation", ...args]).pipe(
      Console.withConsole({
        ...base,
        log: (...a) => Effect.sync(() => void out.push(a.join(" "))),
        error: (...a) => Effect.sync(() => void err.push(a.join(" ")))
      }),
      Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["WORKER_URL", url], ["WORKER_API_TOKEN", bearer]]))),
      // The fake terminal inside: the inner provision is the one the command sees.
      Effect.provideService(Terminal.Terminal, term),
      Effect.provide(Layer.merge(NodeContext.layer, StandardInput.layer))
    )
    return { code, stdout: out.join("\n"), stderr: err.join("\n") }
  })

describe("mx-aggregation purge", () => {
  layer(harness(), { excludeTestServices: true })((it) => {
    it.effect("asks for the member guid on a terminal, needs --yes elsewhere, and erases the member", () =>
      Effect.gen(function*() {
        const client = yield* controlClient
        const { memberGuid } = yield* newMember("password")
        const exists = Effect.map(
          Effect.option(client.members.get({ path: { memberGuid } })),
          Option.isSome
        )
        const shown: Array<string> = []

        const scripted = yield* cli(["purge", memberGuid], terminal(false, "", shown))
        assert.strictEqual(scripted.code, 2, scripted.stderr)
        assert.include(scripted.stderr, "--yes")
        assert.isTrue(yield* exists, "not erased without confirmation")

        const declined = yield* cli(["purge", memberGuid], terminal(true, "no", shown))
        assert.strictEqual(declined.code, 1, declined.stderr)
        assert.include(declined.stderr, "not confirmed")
        assert.include(shown.join(""), memberGuid)
        assert.isTrue(yield* exists, "not erased when the answer is not the guid")

        const confirmed = yield* cli(["purge", memberGuid, "--json"], terminal(true, ` ${memberGuid} `, shown))
        assert.strictEqual(confirmed.code, 0, confirmed.stderr)
        assert.strictEqual(JSON.parse(confirmed.stdout).removed.trackedMembers, 1)
        assert.isFalse(yield* exists)

        const other = yield* newMember("password")
        const unattended = yield* cli(["purge", other.memberGuid, "--yes"], terminal(false, "", shown))
        assert.strictEqual(unattended.code, 0, unattended.stderr)
        assert.include(unattended.stdout, "nothing was changed at MX")

        const again = yield* cli(["purge", other.memberGuid, "--yes"], terminal(false, "", shown))
        assert.strictEqual(again.code, 1)
        assert.include(again.stderr, "Nothing is stored")
      }))
  })
})
