import { assert, describe, layer } from "@effect/vitest"
import { Member } from "@mx-aggregation/domain"
import { Clock, Effect, Option, Schema, TestClock } from "effect"
import { PendingChallenges, TestDatabase } from "../src/index.js"
import { memberGuid, runId, storeLayer } from "./fixtures.js"

const decodeChallenges = Schema.decodeUnknownSync(Schema.Array(Member.Challenge))

/** MX Bank's challenge kinds, as MX sends them (types by name and by number). */
const roundOne = decodeChallenges([
  { guid: "CRD-TEXT", type: "TEXT", label: "What city were you born in?", field_name: "city" },
  {
    guid: "CRD-OPTIONS",
    type: 2,
    label: "Which number?",
    options: [{ guid: "CRO-1", label: "One", value: "1" }, { label: "Two", value: "2" }]
  },
  {
    guid: "CRD-IMAGE",
    type: "IMAGE_OPTIONS",
    label: "Pick the image",
    image_options: [{ label: "Cat", value: "cat", data_uri: "data:image/png;base64,AAAA" }]
  }
])
const roundTwo = decodeChallenges([{ guid: "CRD-TOKEN", type: "TOKEN", label: "Enter the code we sent" }])

describe.each(TestDatabase.kinds)("PendingChallenges on %s", (kind) => {
  layer(storeLayer(kind))((it) => {
    it.effect("stores a member's challenges as MX sent them and finds them until resolved", () =>
      Effect.gen(function*() {
        const pending = yield* PendingChallenges.PendingChallenges
        const member = memberGuid("mfa")
        assert.deepStrictEqual(yield* pending.current(member), Option.none())
        const added = yield* pending.add({
          memberGuid: member,
          runId: runId("mfa"),
          challenges: roundOne,
          createdAt: 1_000,
          expiresAt: 301_000
        })
        assert.strictEqual(added.expiresAt, 301_000)
        assert.strictEqual(added.resolution, null)
        const current = Option.getOrThrow(yield* pending.current(member))
        assert.deepStrictEqual(current, added)
        assert.deepStrictEqual(current.challenges, roundOne)
        assert.strictEqual(current.challenges[1]!.type, "OPTIONS")
        assert.deepStrictEqual(current.challenges[1]!.options.map((o) => o.value), ["1", "2"])
        assert.strictEqual(current.challenges[2]!.image_options[0]!.data_uri, "data:image/png;base64,AAAA")
        assert.isTrue((yield* pending.listPending()).some((p) => p.id === added.id))

        assert.isFalse(
          yield* pending.resolve({ memberGuid: member, runId: runId("other"), resolution: "answered" }),
          "only the run's own challenges"
        )
        assert.isTrue(yield* pending.resolve({ memberGuid: member, resolution: "answered", resolvedAt: 5_000 }))
        assert.isFalse(yield* pending.resolve({ memberGuid: member, resolution: "answered" }))
        assert.deepStrictEqual(yield* pending.current(member), Option.none())
        assert.isFalse((yield* pending.listPending()).some((p) => p.id === added.id))
        const [settled] = yield* pending.listByMember(member)
        assert.strictEqual(settled!.resolution, "answered")
        assert.strictEqual(settled!.resolvedAt, 5_000)
      }))

    it.effect("a second MFA round supersedes the first; adding the same round again is idempotent", () =>
      Effect.gen(function*() {
        const pending = yield* PendingChallenges.PendingChallenges
        const member = memberGuid("two-rounds")
        const run = runId("two-rounds")
        const first = yield* pending.add({ memberGuid: member, runId: run, challenges: roundOne })
        const retried = yield* pending.add({ memberGuid: member, runId: run, challenges: roundOne })
        assert.strictEqual(retried.id, first.id)

        const second = yield* pending.add({ memberGuid: member, runId: run, challenges: roundTwo })
        assert.isAbove(second.id, first.id)
        assert.deepStrictEqual(Option.getOrThrow(yield* pending.current(member)).challenges, roundTwo)
        const rounds = yield* pending.listByMember(member)
        assert.deepStrictEqual(rounds.map((r) => [r.id, r.resolution]), [[second.id, null], [first.id, "superseded"]])
        const open = (yield* pending.listPending()).filter((p) => p.memberGuid === member)
        assert.deepStrictEqual(open.map((p) => p.id), [second.id])

        assert.isTrue(yield* pending.resolve({ memberGuid: member, runId: run, resolution: "expired" }))
        assert.strictEqual((yield* pending.listByMember(member, { limit: 1 }))[0]!.resolution, "expired")
      }))

    it.effect("of concurrent submissions one claims the round; the claim is extended, lapses, or is released", () =>
      Effect.gen(function*() {
        const pending = yield* PendingChallenges.PendingChallenges
        const member = memberGuid("claimed")
        const start = yield* Clock.currentTimeMillis
        const round = yield* pending.add({ memberGuid: member, runId: runId("claimed"), challenges: roundOne })
        assert.strictEqual(round.claimedBy, null)
        const owners = Array.from({ length: 12 }, (_, i) => `submission-${i}`)
        const results = yield* Effect.all(
          owners.map((owner) => pending.claim({ id: round.id, owner, expiresAt: start + 10_000 })),
          { concurrency: "unbounded" }
        )
        assert.strictEqual(results.filter(Boolean).length, 1, "exactly one submission holds the round")
        const winner = owners[results.indexOf(true)]!
        const loser = owners.find((owner) => owner !== winner)!
        const held = Option.getOrThrow(yield* pending.current(member))
        assert.strictEqual(held.claimedBy, winner)
        assert.strictEqual(held.claimExpiresAt, start + 10_000)
        assert.isNull(held.resolvedAt, "a claimed round stays open")
        assert.isTrue(yield* pending.claim({ id: round.id, owner: winner, expiresAt: start + 20_000 }), "extended")
        yield* TestClock.adjust("10 seconds")
        assert.isFalse(yield* pending.claim({ id: round.id, owner: loser, expiresAt: start + 30_000 }))
        yield* TestClock.adjust("10 seconds")
        assert.isTrue(yield* pending.claim({ id: round.id, owner: loser, expiresAt: start + 30_000 }), "a lapsed claim")
        assert.isFalse(yield* pending.releaseClaim({ id: round.id, owner: winner }), "only the holder releases")
        assert.isTrue(yield* pending.releaseClaim({ id: round.id, owner: loser }))
        assert.strictEqual(Option.getOrThrow(yield* pending.current(member)).claimedBy, null)
        assert.isTrue(yield* pending.claim({ id: round.id, owner: winner, expiresAt: start + 40_000 }))
        assert.isTrue(yield* pending.resolve({ memberGuid: member, resolution: "answered" }))
        assert.isFalse(
          yield* pending.claim({ id: round.id, owner: loser, expiresAt: start + 90_000 }),
          "a closed round"
        )
        assert.isFalse(yield* pending.releaseClaim({ id: round.id, owner: winner }), "a closed round")
        assert.isFalse(yield* pending.claim({ id: round.id + 1_000, owner: winner, expiresAt: start + 90_000 }))
      }))

    it.effect("lists every member's open challenges, oldest first", () =>
      Effect.gen(function*() {
        const pending = yield* PendingChallenges.PendingChallenges
        const a = yield* pending.add({ memberGuid: memberGuid("list-a"), runId: runId("a"), challenges: roundTwo })
        const b = yield* pending.add({ memberGuid: memberGuid("list-b"), runId: runId("b"), challenges: roundOne })
        const ids = (yield* pending.listPending()).map((p) => p.id)
        assert.isBelow(ids.indexOf(a.id), ids.indexOf(b.id))
        assert.isAtLeast(ids.indexOf(a.id), 0)
      }))
  })

  // A database of its own, so the count is exact.
  layer(storeLayer(kind))((it) => {
    it.effect("countPending counts the open rounds listPending lists, as a plain number", () =>
      Effect.gen(function*() {
        const pending = yield* PendingChallenges.PendingChallenges
        const count = Effect.gen(function*() {
          const n = yield* pending.countPending
          assert.strictEqual(typeof n, "number")
          assert.strictEqual(n, (yield* pending.listPending()).length)
          return n
        })
        assert.strictEqual(yield* count, 0)
        yield* pending.add({ memberGuid: memberGuid("count-a"), runId: runId("a"), challenges: roundOne })
        yield* pending.add({ memberGuid: memberGuid("count-b"), runId: runId("b"), challenges: roundOne })
        assert.strictEqual(yield* count, 2)
        // The next round of a member supersedes its open one: still one open round per member.
        yield* pending.add({ memberGuid: memberGuid("count-a"), runId: runId("a"), challenges: roundTwo })
        assert.strictEqual(yield* count, 2)
        yield* pending.resolve({ memberGuid: memberGuid("count-b"), resolution: "answered" })
        assert.strictEqual(yield* count, 1)
      }))
  })
})
