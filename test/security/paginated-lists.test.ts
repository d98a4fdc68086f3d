/**
 * `GET /members` and `GET /challenges` are paginated by a cursor in a stable order (member guid,
 * challenge id), with a capped page size: a client following `next` sees every item exactly once, in
 * order, even while new members and challenges are added between its pages.
 */
import { HttpClient, HttpClientRequest, HttpServer } from "@effect/platform"
import { assert, describe, layer } from "@effect/vitest"
import { Member } from "@mx-aggregation/domain"
import { AggregationRuns, PendingChallenges, TestDatabase, TrackedMembers } from "@mx-aggregation/store"
import { ControlApiLive } from "@mx-aggregation/worker"
import { Effect, Fiber, Redacted, Schema } from "effect"
import { controlClient, harness, token } from "../worker/harness.js"

const challenges = Schema.decodeUnknownSync(Schema.Array(Member.Challenge))([
  { guid: "CRD-PAGE", type: "TEXT", label: "What city were you born in?" }
])

/** Follows `next` until the last page; returns the pages. */
const readAll = <A>(
  page: (cursor: string | undefined) => Effect.Effect<{ items: ReadonlyArray<A>; next: string | null }, unknown>
) =>
  Effect.gen(function*() {
    const pages: Array<ReadonlyArray<A>> = []
    let cursor: string | undefined = undefined
    for (;;) {
      const { items, next }: { items: ReadonlyArray<A>; next: string | null } = yield* page(cursor)
      pages.push(items)
      if (next === null) return pages
      cursor = next
    }
  })

const sorted = <A>(items: ReadonlyArray<A>, compare: (a: A, b: A) => number) => [...items].sort(compare)
const byString = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0)

describe.each(TestDatabase.kinds)("paginated lists on %s", (kind) => {
  const limits = { ...ControlApiLive.defaultLimits, requestsPerMinute: 1_000_000 }
  layer(harness({ kind, limits }), { excludeTestServices: true })((it) => {
    it.effect("members: pages of 7 by guid, each member exactly once while others are tracked meanwhile", () =>
      Effect.gen(function*() {
        const tracked = yield* TrackedMembers.TrackedMembers
        const client = yield* controlClient
        const user = Member.UserGuid.make(`USR-pages-${kind}`)
        const guid = (i: number) => Member.MemberGuid.make(`MBR-page-${String(i).padStart(4, "0")}`)
        const existing = Array.from({ length: 200 }, (_, i) => guid(i * 2))
        yield* tracked.trackMany(existing.map((memberGuid) => ({ memberGuid, userGuid: user })))
        // Odd guids sort between the existing ones: tracked while the client pages.
        const meanwhile = yield* Effect.forEach(
          Array.from({ length: 200 }, (_, i) => guid(i * 2 + 1)),
          (memberGuid) => tracked.track({ memberGuid, userGuid: user }),
          { discard: true }
        ).pipe(Effect.fork)
        const pages = yield* readAll((cursor) =>
          client.members.list({
            urlParams: {
              userGuid: user,
              limit: 7,
              cursor: cursor === undefined ? undefined : Member.MemberGuid.make(cursor)
            }
          }).pipe(Effect.map((page) => ({ items: page.members.map((m) => m.memberGuid), next: page.next })))
        )
        yield* Fiber.join(meanwhile)
        const seen = pages.flat()
        assert.isTrue(pages.every((page) => page.length <= 7))
        assert.strictEqual(new Set(seen).size, seen.length, "no member twice")
        assert.deepStrictEqual(seen, sorted(seen, byString), "in guid order")
        for (const memberGuid of existing) {
          assert.include(seen, memberGuid, "every member tracked before the first page")
        }
        // Read again once nothing changes: all 400, still once each.
        const again = (yield* readAll((cursor) =>
          client.members.list({
            urlParams: {
              userGuid: user,
              limit: 13,
              cursor: cursor === undefined ? undefined : Member.MemberGuid.make(cursor)
            }
          }).pipe(Effect.map((page) => ({ items: page.members.map((m) => m.memberGuid), next: page.next })))
        )).flat()
        assert.deepStrictEqual(
          again,
          sorted([...existing, ...Array.from({ length: 200 }, (_, i) => guid(i * 2 + 1))], byString)
        )
      }))

    it.effect("challenges: pages of 13 by id, each pending challenge exactly once while others arrive", () =>
      Effect.gen(function*() {
        const pending = yield* PendingChallenges.PendingChallenges
        const client = yield* controlClient
        const add = (i: number) =>
          pending.add({
            memberGuid: Member.MemberGuid.make(`MBR-chl-${kind}-${i}`),
            runId: AggregationRuns.RunId.make(`RUN-chl-${kind}-${i}`),
            challenges
          })
        const existing: Array<string> = []
        for (let i = 0; i < 150; i++) existing.push((yield* add(i)).memberGuid)
        const meanwhile = yield* Effect.forEach(Array.from({ length: 50 }, (_, i) => 150 + i), add, { discard: true })
          .pipe(Effect.fork)
        const pages = yield* readAll((cursor) =>
          client.members.pendingChallenges({ urlParams: { limit: 13, cursor } }).pipe(
            Effect.map((page) => ({ items: page.challenges, next: page.next }))
          )
        )
        yield* Fiber.join(meanwhile)
        const seen = pages.flat().filter((p) => p.memberGuid.startsWith(`MBR-chl-${kind}-`)).map((p) => p.memberGuid)
        assert.isTrue(pages.every((page) => page.length <= 13))
        assert.strictEqual(new Set(seen).size, seen.length, "no challenge twice")
        for (const memberGuid of existing) {
          assert.include(seen, memberGuid, "every challenge pending before the first page")
        }
        const order = seen.map((g) => Number(g.split("-").at(-1)))
        assert.deepStrictEqual(order, sorted(order, (a, b) => a - b), "oldest first")
      }))

    it.effect("a page larger than 1000, or a cursor that is not one, is a 400 problem", () =>
      Effect.gen(function*() {
        const server = yield* HttpServer.HttpServer
        const base = `http://127.0.0.1:${(server.address as HttpServer.TcpAddress).port}`
        const http = yield* HttpClient.HttpClient
        for (
          const path of [
            "/members?limit=1001",
            "/members?limit=0",
            "/members?cursor=",
            "/challenges?limit=5000",
            "/challenges?cursor=abc",
            "/challenges?cursor=-3"
          ]
        ) {
          const response = yield* http.execute(
            HttpClientRequest.get(`${base}${path}`).pipe(HttpClientRequest.bearerToken(Redacted.value(token)))
          )
          assert.strictEqual(response.status, 400, path)
          assert.strictEqual(response.headers["content-type"], "application/problem+json", path)
        }
      }))
  })
})
