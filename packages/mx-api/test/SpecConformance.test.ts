/**
 * Conformance to MX's OpenAPI spec (v20111101, `vendor/mx-openapi/mx_platform_api.yml`):
 * example payloads built from the spec's `example` values decode with our Schemas, and every request
 * the client makes names a path, method, query parameter and body field the spec declares.
 */
import { assert, describe, it } from "@effect/vitest"
import { Account, Member, Transaction } from "@mx-aggregation/domain"
import { Effect, Redacted, Schema, Stream } from "effect"
import { readFileSync } from "node:fs"
import { parse } from "yaml"
import type * as MxClient from "../src/MxClient.js"
import { Pagination } from "../src/Pagination.js"
import { User } from "../src/User.js"
import * as Fake from "./support/FakeMx.js"

interface OpenApiSchema {
  readonly $ref?: string
  readonly type?: string
  readonly nullable?: boolean
  readonly example?: unknown
  readonly properties?: Record<string, OpenApiSchema>
  readonly items?: OpenApiSchema
  readonly allOf?: ReadonlyArray<OpenApiSchema>
}

interface OpenApiOperation {
  readonly operationId: string
  readonly parameters?: ReadonlyArray<{ readonly $ref?: string; readonly name?: string; readonly in?: string }>
  readonly requestBody?: { readonly content: Record<string, { readonly schema: OpenApiSchema }> }
  readonly responses: Record<string, { readonly content?: Record<string, { readonly schema: OpenApiSchema }> }>
}

const spec = parse(
  readFileSync(new URL("../../../vendor/mx-openapi/mx_platform_api.yml", import.meta.url), "utf8")
) as {
  readonly paths: Record<string, Record<string, OpenApiOperation>>
  readonly components: {
    readonly schemas: Record<string, OpenApiSchema>
    readonly parameters: Record<string, { readonly name: string; readonly in: string }>
  }
}

const resolve = (schema: OpenApiSchema): OpenApiSchema =>
  schema.$ref === undefined ? schema : resolve(spec.components.schemas[schema.$ref.split("/").at(-1)!]!)

/**
 * An example payload for a schema, from its `example` values: objects property by property, arrays
 * as one built item (unless the array has its own example). `nulls` sets every nullable scalar to null
 * instead, except the properties named in `keep`.
 */
const example = (
  input: OpenApiSchema,
  options: { readonly nulls?: boolean; readonly keep?: ReadonlySet<string> } = {}
): unknown => {
  const schema = resolve(input)
  if (schema.allOf !== undefined) {
    return Object.assign({}, ...schema.allOf.map((part) => example(part, options)))
  }
  if (schema.type === "array") {
    if (schema.example !== undefined) return schema.example
    return schema.items === undefined ? [] : [example(schema.items, options)]
  }
  if (schema.properties !== undefined) {
    return Object.fromEntries(
      Object.entries(schema.properties).flatMap(([key, property]) => {
        const resolved = resolve(property)
        if (options.nulls && resolved.nullable === true && !options.keep?.has(key)) return [[key, null]]
        const value = example(property, options)
        return value === undefined ? [] : [[key, value]]
      })
    )
  }
  return schema.example
}

const component = (name: string) => spec.components.schemas[name]!

const decodes = <A, I>(schema: Schema.Schema<A, I>, name: string, payload: unknown) => {
  const result = Schema.decodeUnknownEither(schema)(payload)
  if (result._tag === "Left") assert.fail(`${name} example does not decode: ${result.left.message}`)
  return result.right
}

/**
 * Fields our Schemas require although the spec marks them nullable: the identity of an object, a
 * challenge's type and an option's value (without them a challenge cannot be answered).
 */
const identity = new Set(["guid", "type", "value"])

const responseSchemas = [
  ["MemberResponse", Member.Member],
  ["MemberStatusResponse", Member.MemberStatus],
  ["ChallengeResponse", Member.Challenge],
  ["CredentialResponse", Member.Credential],
  ["AccountResponse", Account.Account],
  ["TransactionResponse", Transaction.Transaction],
  ["UserResponse", User],
  ["PaginationResponse", Pagination]
] as const

describe("spec conformance: response examples decode", () => {
  for (const [name, schema] of responseSchemas) {
    it(`${name} example decodes`, () => {
      const payload = example(component(name))
      assert.isObject(payload)
      assert.isAbove(Object.keys(payload as object).length, 0)
      decodes(schema as Schema.Schema<unknown, any>, name, payload)
    })

    if (name !== "PaginationResponse") {
      it(`${name} with every nullable field null decodes`, () => {
        decodes(schema as Schema.Schema<unknown, any>, name, example(component(name), { nulls: true, keep: identity }))
      })
    }
  }

  it("the examples decode to MX's values (spot checks)", () => {
    const member = decodes(Member.Member, "MemberResponse", example(component("MemberResponse")))
    assert.strictEqual(member.guid, "MBR-7c6f361b-e582-15b6-60c0-358f12466b4b")
    assert.strictEqual(member.connection_status, "CONNECTED")
    // The spec types it boolean but its example (and MX) send a JOB guid.
    assert.strictEqual(member.most_recent_job_guid, "JOB-12345678-90ab-cdef-1234-567890abcdef")
    const status = decodes(Member.MemberStatus, "MemberStatusResponse", example(component("MemberStatusResponse")))
    assert.strictEqual(status.challenges[0]?.type, "IMAGE_DATA")
    assert.isTrue(status.has_processed_accounts)
    const account = decodes(Account.Account, "AccountResponse", example(component("AccountResponse")))
    assert.strictEqual(account.balance, 10000)
  })
})

// ---------------------------------------------------------------------------------------------------
// Every operation against a fake MX that answers with the spec's own examples
// ---------------------------------------------------------------------------------------------------

interface SpecOperation {
  readonly method: string
  readonly template: string
  readonly pattern: RegExp
  readonly operation: OpenApiOperation
}

const operations: ReadonlyArray<SpecOperation> = Object.entries(spec.paths).flatMap(([template, item]) =>
  Object.entries(item)
    .filter(([method]) => ["get", "post", "put", "delete"].includes(method))
    .map(([method, operation]) => ({
      method: method.toUpperCase(),
      template,
      pattern: new RegExp(`^${template.replace(/\{[^}]+\}/g, "[^/]+")}$`),
      operation
    }))
)

const findOperation = (request: Fake.Recorded): SpecOperation | undefined =>
  operations.find((op) => op.method === request.method && op.pattern.test(request.url.pathname))

const queryNames = (op: OpenApiOperation): ReadonlySet<string> =>
  new Set(
    (op.parameters ?? [])
      .map((p) => p.$ref === undefined ? p : spec.components.parameters[p.$ref.split("/").at(-1)!]!)
      .filter((p) => p.in === "query")
      .map((p) => p.name!)
  )

/** Fails on a body field the spec's request schema does not declare, at any depth. */
const assertBodyConforms = (body: unknown, schema: OpenApiSchema, path: string): void => {
  const resolved = resolve(schema)
  if (Array.isArray(body)) {
    assert.strictEqual(resolved.type, "array", `${path} is an array in our request but not in the spec`)
    body.forEach((item, i) => assertBodyConforms(item, resolved.items!, `${path}[${i}]`))
    return
  }
  if (typeof body === "object" && body !== null) {
    for (const [key, value] of Object.entries(body)) {
      const property = resolved.properties?.[key]
      assert.isDefined(property, `${path}.${key} is not in the spec's request schema`)
      assertBodyConforms(value, property!, `${path}.${key}`)
    }
  }
}

/** A fake MX answering each request with the spec's example of the operation's first 2xx response. */
const specMx = () =>
  Fake.make((request) => {
    const op = findOperation(request)
    if (op === undefined) {
      return { status: 404, body: { error: `not in spec: ${request.method} ${request.url.pathname}` } }
    }
    const [status, response] = Object.entries(op.operation.responses).find(([code]) => code.startsWith("2"))!
    const content = response.content === undefined ? undefined : Object.values(response.content)[0]
    return { status: Number(status), ...(content === undefined ? {} : { body: example(content.schema) }) }
  })

const credential = (guid: string, value: string) =>
  Member.CredentialValue.make({ guid: Member.CredentialGuid.make(guid), value: Redacted.make(value) })

/** One call of every operation, with every optional parameter the client offers. */
const everyOperation = (mx: MxClient.Service) => {
  const { memberGuid, userGuid } = Fake
  const institutionCode = Member.InstitutionCode.make("mxbank")
  const collect = <A, E>(stream: Stream.Stream<A, E>) => Stream.runCollect(stream)
  return [
    ["createUser", mx.createUser({ id: "u", email: "e@x.test", metadata: "m", isDisabled: false })],
    ["readUser", mx.readUser({ userGuid })],
    ["listUsers", collect(mx.listUsers({ recordsPerPage: 10 }))],
    ["deleteUser", mx.deleteUser({ userGuid })],
    [
      "createMember",
      mx.createMember({
        userGuid,
        institutionCode,
        credentials: [credential("CRD-1", "mxuser"), credential("CRD-2", "password")],
        skipAggregation: true,
        id: "m",
        metadata: "x",
        isOauth: false,
        backgroundAggregationIsDisabled: false
      })
    ],
    ["readMember", mx.readMember({ userGuid, memberGuid })],
    [
      "updateMember",
      mx.updateMember({
        userGuid,
        memberGuid,
        credentials: [credential("CRD-2", "new")],
        skipAggregation: true,
        id: "m",
        metadata: "x",
        backgroundAggregationIsDisabled: true
      })
    ],
    ["deleteMember", mx.deleteMember({ userGuid, memberGuid })],
    ["listMembers", collect(mx.listMembers({ userGuid }))],
    ["aggregateMember", mx.aggregateMember({ userGuid, memberGuid, includeHoldings: true, includeTransactions: true })],
    ["readMemberStatus", mx.readMemberStatus({ userGuid, memberGuid })],
    ["listMemberChallenges", mx.listMemberChallenges({ userGuid, memberGuid })],
    ["resumeAggregation", mx.resumeAggregation({ userGuid, memberGuid, answers: [credential("CRD-q", "correct")] })],
    ["listMemberCredentials", collect(mx.listMemberCredentials({ userGuid, memberGuid }))],
    ["listInstitutionCredentials", collect(mx.listInstitutionCredentials({ institutionCode }))],
    ["listMemberAccounts", collect(mx.listMemberAccounts({ userGuid, memberGuid }))],
    [
      "listTransactionsByMember",
      collect(mx.listTransactionsByMember({
        userGuid,
        memberGuid,
        fromDate: "2024-01-01",
        toDate: "2024-03-31",
        fromUpdatedAt: "2024-01-01",
        toUpdatedAt: "2024-03-01"
      }))
    ]
  ] as const
}

describe("spec conformance: every operation", () => {
  it.effect("requests match the spec's operation, parameters and request body; its examples decode", () =>
    Effect.gen(function*() {
      const fake = specMx()
      const mx = yield* Fake.client(fake)
      for (const [name, call] of everyOperation(mx)) {
        const before = fake.requests.length
        const result = yield* Effect.either(call as Effect.Effect<unknown, unknown>)
        if (result._tag === "Left") assert.fail(`${name} failed against the spec's example: ${String(result.left)}`)
        const request = fake.requests[before]!
        const op = findOperation(request)
        assert.isDefined(op, `${name}: ${request.method} ${request.url.pathname} is not in the spec`)
        assert.strictEqual(op!.operation.operationId, name, `${name} calls MX's ${op!.operation.operationId}`)
        const allowed = queryNames(op!.operation)
        for (const key of request.url.searchParams.keys()) {
          assert.isTrue(allowed.has(key), `${name}: query parameter ${key} is not in the spec`)
        }
        const requestBody = op!.operation.requestBody
        if (request.body === undefined) {
          assert.isUndefined(requestBody, `${name} sends no body but the spec expects one`)
        } else {
          assert.isDefined(requestBody, `${name} sends a body the spec does not expect`)
          assertBodyConforms(request.body, requestBody!.content["application/json"]!.schema, name)
        }
      }
      assert.strictEqual(fake.requests.length, everyOperation(mx).length)
    }))
})
