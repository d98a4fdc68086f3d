/**
 * Conformance property test: every operation of the client, served at least 500 responses that
 * json-schema-faker generates from the operation's 2xx response schema in MX's spec (seeded, so the
 * same every run), decodes them all. Every other response is generated with its object and guid
 * present (`SpecFaker.withIdentity`: the spec requires neither), so that the other fields are
 * exercised as often as the refusals are.
 *
 * Each served response is judged against what the client promises:
 * - `decoded`: the call succeeded, and every list row got through, except rows without a guid (empty,
 *   null, absent), which are left out and reported through `onSkipped` (the spec makes every guid
 *   nullable; see `policy rows`).
 * - `refused`: a single object without a guid, or no object at all (the spec requires none of
 *   them), is a `Decode` MxApiError, as specified.
 * - `domain`: the response failed (single object) or lost a row (list) only because a schema of
 *   `@mx-aggregation/domain` (Member, MemberStatus, Challenge, Credential) refused a value the spec
 *   allows; reported per operation with its fields and first messages, for the domain's owners.
 * - `client`: anything else: the client's own envelope, pagination, User, Account or Transaction
 *   schemas refusing what the spec allows, or the client not doing what it promises. Must be 0.
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { Account, Member, Transaction } from "@mx-aggregation/domain"
import { Effect, Either, Logger, LogLevel, ParseResult, Redacted, Schema, Stream } from "effect"
import type { MxApiError } from "../src/MxApiError.js"
import type * as MxClient from "../src/MxClient.js"
import type { SkippedRow } from "../src/Pagination.js"
import { User } from "../src/User.js"
import * as Fake from "./support/FakeMx.js"
import * as SpecFaker from "./support/SpecFaker.js"

/** Responses per operation, at least. */
const perOperation = 500
const seed = 20_111_101

type RowSchema = Schema.Schema<any, any>

type Case =
  | {
    readonly name: string
    readonly kind: "single"
    readonly key: string
    readonly schema: RowSchema
    readonly domain: boolean
    readonly run: (mx: MxClient.Service) => Effect.Effect<unknown, MxApiError>
  }
  | {
    readonly name: string
    readonly kind: "list"
    readonly key: string
    readonly schema: RowSchema
    readonly domain: boolean
    readonly run: (
      mx: MxClient.Service,
      onSkipped: (row: SkippedRow) => Effect.Effect<void>
    ) => Effect.Effect<number, MxApiError>
  }
  | {
    readonly name: string
    readonly kind: "none"
    readonly run: (mx: MxClient.Service) => Effect.Effect<unknown, MxApiError>
  }

const { memberGuid, userGuid } = Fake
const institutionCode = Member.InstitutionCode.make("mxbank")
const count = <A, E>(stream: Stream.Stream<A, E>) => Stream.runCount(stream)
const credential = Member.CredentialValue.make({
  guid: Member.CredentialGuid.make("CRD-1"),
  value: Redacted.make("x")
})

const cases: ReadonlyArray<Case> = [
  { name: "createUser", kind: "single", key: "user", schema: User, domain: false, run: (mx) => mx.createUser() },
  {
    name: "readUser",
    kind: "single",
    key: "user",
    schema: User,
    domain: false,
    run: (mx) => mx.readUser({ userGuid })
  },
  {
    name: "listUsers",
    kind: "list",
    key: "users",
    schema: User,
    domain: false,
    run: (mx, onSkipped) => count(mx.listUsers({ onSkipped }))
  },
  { name: "deleteUser", kind: "none", run: (mx) => mx.deleteUser({ userGuid }) },
  {
    name: "createMember",
    kind: "single",
    key: "member",
    schema: Member.Member,
    domain: true,
    run: (mx) => mx.createMember({ userGuid, institutionCode, credentials: [] })
  },
  {
    name: "readMember",
    kind: "single",
    key: "member",
    schema: Member.Member,
    domain: true,
    run: (mx) => mx.readMember({ userGuid, memberGuid })
  },
  {
    name: "updateMember",
    kind: "single",
    key: "member",
    schema: Member.Member,
    domain: true,
    run: (mx) => mx.updateMember({ userGuid, memberGuid, metadata: "m" })
  },
  { name: "deleteMember", kind: "none", run: (mx) => mx.deleteMember({ userGuid, memberGuid }) },
  {
    name: "listMembers",
    kind: "list",
    key: "members",
    schema: Member.Member,
    domain: true,
    run: (mx, onSkipped) => count(mx.listMembers({ userGuid, onSkipped }))
  },
  {
    name: "aggregateMember",
    kind: "single",
    key: "member",
    schema: Member.Member,
    domain: true,
    run: (mx) => mx.aggregateMember({ userGuid, memberGuid })
  },
  {
    name: "readMemberStatus",
    kind: "single",
    key: "member",
    schema: Member.MemberStatus,
    domain: true,
    run: (mx) => mx.readMemberStatus({ userGuid, memberGuid })
  },
  {
    name: "listMemberChallenges",
    kind: "list",
    key: "challenges",
    schema: Member.Challenge,
    domain: true,
    run: (mx, onSkipped) =>
      Effect.map(mx.listMemberChallenges({ userGuid, memberGuid, onSkipped }), (challenges) => challenges.length)
  },
  {
    name: "resumeAggregation",
    kind: "single",
    key: "member",
    schema: Member.Member,
    domain: true,
    run: (mx) => mx.resumeAggregation({ userGuid, memberGuid, answers: [credential] })
  },
  {
    name: "listMemberCredentials",
    kind: "list",
    key: "credentials",
    schema: Member.Credential,
    domain: true,
    run: (mx, onSkipped) => count(mx.listMemberCredentials({ userGuid, memberGuid, onSkipped }))
  },
  {
    name: "listInstitutionCredentials",
    kind: "list",
    key: "credentials",
    schema: Member.Credential,
    domain: true,
    run: (mx, onSkipped) => count(mx.listInstitutionCredentials({ institutionCode, onSkipped }))
  },
  {
    name: "listMemberAccounts",
    kind: "list",
    key: "accounts",
    schema: Account.Account,
    domain: false,
    run: (mx, onSkipped) => count(mx.listMemberAccounts({ userGuid, memberGuid, onSkipped }))
  },
  {
    name: "listTransactionsByMember",
    kind: "list",
    key: "transactions",
    schema: Transaction.Transaction,
    domain: false,
    run: (mx, onSkipped) => count(mx.listTransactionsByMember({ userGuid, memberGuid, onSkipped }))
  }
]

/** What the client should do with one object the spec allows. */
type Verdict =
  | { readonly _tag: "ok" }
  | { readonly _tag: "policy"; readonly why: string }
  | { readonly _tag: "refused"; readonly fields: ReadonlyArray<string>; readonly message: string }

const isObject = (u: unknown): u is Record<string, unknown> => typeof u === "object" && u !== null && !Array.isArray(u)

/** The guid policy first (no guid: left out or refused), then the row's Schema. */
const judge = (schema: RowSchema, row: unknown): Verdict => {
  if (!isObject(row)) return { _tag: "policy", why: "no object" }
  if (typeof row.guid !== "string" || row.guid.trim() === "") return { _tag: "policy", why: "no guid" }
  const result = Schema.decodeUnknownEither(schema)(row)
  if (Either.isRight(result)) return { _tag: "ok" }
  const issues = ParseResult.ArrayFormatter.formatErrorSync(result.left)
  return {
    _tag: "refused",
    fields: [
      ...new Set(issues.map((issue) => issue.path.map((p) => typeof p === "number" ? "*" : String(p)).join(".")))
    ],
    message: issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`).join("; ")
  }
}

interface Tally {
  readonly operation: string
  served: number
  decoded: number
  refused: number
  domain: number
  client: number
  rows: number
  rowsYielded: number
  policyRows: number
  domainRows: number
  domainFields: Map<string, number>
  domainMessages: Array<string>
  problems: number
  clientMessages: Array<string>
}

const noteDomain = (tally: Tally, verdict: Verdict & { readonly _tag: "refused" }) => {
  for (const field of verdict.fields) tally.domainFields.set(field, (tally.domainFields.get(field) ?? 0) + 1)
  if (tally.domainMessages.length < 3) tally.domainMessages.push(verdict.message.slice(0, 300))
}

/** A client problem: counted in `problems`, its first messages kept. */
const noteClient = (tally: Tally, message: string) => {
  tally.problems++
  if (tally.clientMessages.length < 5) tally.clientMessages.push(message.slice(0, 500))
}

/** Serves `perOperation` generated responses (at least) to one operation and judges each. */
const exercise = (testCase: Case) =>
  Effect.gen(function*() {
    const op = SpecFaker.operation(testCase.name)
    // Each operation its own responses, though several share a response schema.
    const operationSeed = seed + 1_000_000 * cases.indexOf(testCase)
    const tally: Tally = {
      operation: testCase.name,
      served: 0,
      decoded: 0,
      refused: 0,
      domain: 0,
      client: 0,
      rows: 0,
      rowsYielded: 0,
      policyRows: 0,
      domainRows: 0,
      domainFields: new Map(),
      domainMessages: [],
      problems: 0,
      clientMessages: []
    }
    // The bodies served during the current call, by the page asked for.
    let served: Array<{ readonly page: number; readonly status: number; readonly body: unknown }> = []
    const fake = Fake.make((request) => {
      if (request.method !== op.method || !op.pattern.test(request.url.pathname)) {
        return { status: 404, body: { error: `not ${testCase.name}: ${request.method} ${request.url.pathname}` } }
      }
      const index = tally.served++
      const response = op.responses[index % op.responses.length]!
      // Every other response with its object and guid present (see SpecFaker.withIdentity).
      const schema = response.schema === undefined || testCase.kind === "none" || index % 2 === 0
        ? response.schema
        : SpecFaker.withIdentity(response.schema, testCase.key)
      const body = schema === undefined ? undefined : SpecFaker.generate(schema, operationSeed, index)
      served.push({ page: Number(request.url.searchParams.get("page") ?? 1), status: response.status, body })
      return { status: response.status, ...(body === undefined ? {} : { body }) }
    })
    const mx = yield* Fake.client(fake, { requestsPerSecond: 1_000_000, maxConcurrency: 100 })

    while (tally.served < perOperation) {
      // Let the worker's event loop take vitest's messages now and then (a long run of calls kept it
      // from answering the runner in time on a loaded machine).
      if (tally.served % 20 === 0) yield* Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve)))
      served = []
      if (testCase.kind === "none") {
        const result = yield* Effect.either(testCase.run(mx))
        if (Either.isLeft(result)) {
          tally.client++
          noteClient(tally, `status ${served[0]?.status}: ${result.left.message}`)
        } else tally.decoded++
        continue
      }
      if (testCase.kind === "single") {
        const result = yield* Effect.either(testCase.run(mx))
        const { body: sent, status: sentStatus } = served[0]!
        const verdict = judge(testCase.schema, isObject(sent) ? sent[testCase.key] : undefined)
        const client = (message: string) => {
          tally.client++
          noteClient(tally, message)
        }
        if (Either.isRight(result)) {
          if (verdict._tag === "ok") tally.decoded++
          else client(`accepted what it should refuse (${JSON.stringify(verdict)}): ${JSON.stringify(sent)}`)
        } else if (result.left.reason !== "Decode") {
          client(`${result.left.reason} ${sentStatus}: ${result.left.message}`)
        } else if (verdict._tag === "policy") {
          tally.refused++
        } else if (verdict._tag === "refused" && testCase.domain) {
          tally.domain++
          noteDomain(tally, verdict)
        } else {
          client(`${result.left.message} (judged ${verdict._tag}) body ${JSON.stringify(sent)}`)
        }
        continue
      }
      // A list: every page served in this call, against the rows yielded and left out.
      const skipped: Array<SkippedRow> = []
      const result = yield* Effect.either(
        testCase.run(mx, (row) => Effect.sync(() => skipped.push(row)))
      )
      if (Either.isLeft(result)) {
        tally.client += served.length
        noteClient(tally, `the list failed: ${result.left.message}`)
        continue
      }
      let expectedYield = 0
      for (const { body, page } of served) {
        const rows = isObject(body) && Array.isArray(body[testCase.key]) ? body[testCase.key] as Array<unknown> : []
        tally.rows += rows.length
        let domainLost = false
        let clientLost = false
        rows.forEach((row, index) => {
          const verdict = judge(testCase.schema, row)
          const reported = skipped.some((s) => s.page === page && s.index === index && s.operation === testCase.name)
          if (verdict._tag === "ok") {
            expectedYield++
            if (reported) {
              clientLost = true
              noteClient(tally, `row ${page}/${index} decodes but was left out: ${JSON.stringify(row)}`)
            }
            return
          }
          if (!reported) {
            clientLost = true
            noteClient(tally, `row ${page}/${index} (${verdict._tag}) was not reported as left out`)
            return
          }
          if (verdict._tag === "policy") tally.policyRows++
          else if (testCase.domain) {
            tally.domainRows++
            domainLost = true
            noteDomain(tally, verdict)
          } else {
            clientLost = true
            noteClient(tally, `row ${page}/${index} refused by the client's schema: ${verdict.message}`)
          }
        })
        if (clientLost) tally.client++
        else if (domainLost) tally.domain++
        else tally.decoded++
      }
      tally.rowsYielded += result.right
      if (result.right !== expectedYield) {
        noteClient(tally, `yielded ${result.right} rows, expected ${expectedYield}`)
      }
    }
    return tally
  }).pipe(Effect.provide(Logger.minimumLogLevel(LogLevel.None)))

const report = (tallies: ReadonlyArray<Tally>): string =>
  tallies.map((t) => {
    const status = t.client > 0
      ? "CLIENT FAILURES"
      : t.domain > 0
      ? "ok once the domain schemas land (only domain-schema failures)"
      : "ok"
    const lines = [
      `${t.operation}: served ${t.served}, decoded ${t.decoded}, refused as specified ${t.refused}, ` +
      `domain ${t.domain}, client ${t.client}` +
      (t.rows > 0 || t.policyRows > 0
        ? `; rows ${t.rows}, yielded ${t.rowsYielded}, left out for no guid ${t.policyRows}, ` +
          `left out by domain schemas ${t.domainRows}`
        : "") +
      ` -> ${status}`
    ]
    if (t.domainFields.size > 0) {
      lines.push(
        `  domain fields: ${
          [...t.domainFields].sort((a, b) => b[1] - a[1]).map(([field, n]) => `${field} ${n}`).join(", ")
        }`
      )
      for (const message of t.domainMessages) lines.push(`  domain e.g.: ${message}`)
    }
    for (const message of t.clientMessages) lines.push(`  client: ${message}`)
    return lines.join("\n")
  }).join("\n")

describe("spec conformance: generated responses (json-schema-faker)", () => {
  const tallies: Array<Tally> = []
  // Stack traces are what a call costs most here (an Error per span and per MxApiError, source-mapped
  // under vitest); none is read.
  let stackTraceLimit = Error.stackTraceLimit
  beforeAll(() => {
    stackTraceLimit = Error.stackTraceLimit
    Error.stackTraceLimit = 0
  })
  afterAll(() => {
    Error.stackTraceLimit = stackTraceLimit
    console.info(`Generated-response conformance (seed ${seed}, ${perOperation} per operation):\n${report(tallies)}`)
  })

  for (const testCase of cases) {
    it.live(`${testCase.name}: ${perOperation} generated responses, no client failure`, () =>
      Effect.gen(function*() {
        const tally = yield* exercise(testCase)
        tallies.push(tally)
        const text = report([tally])
        assert.isAtLeast(tally.served, perOperation)
        assert.strictEqual(tally.client, 0, `client failures:\n${text}`)
        assert.strictEqual(tally.problems, 0, `client problems:\n${text}`)
        assert.strictEqual(
          tally.served,
          tally.decoded + tally.refused + tally.domain + tally.client,
          `every response is judged:\n${text}`
        )
        // The generator reaches the cases that matter: objects that decode, and (lists) rows left out
        // for want of a guid, (single objects) refusals.
        assert.isAbove(tally.decoded, 0, text)
        if (testCase.kind === "list") {
          assert.isAbove(tally.policyRows, 0, text)
          if (!testCase.domain) assert.isAbove(tally.rowsYielded, 100, text)
        }
        if (testCase.kind === "single") assert.isAbove(tally.refused, 0, text)
        // The domain's schemas are as liberal as MX's spec: nothing the spec allows is refused.
        assert.strictEqual(tally.domain, 0, text)
      }), { timeout: 120_000 })
  }
})
