import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, FastCheck as fc, Redacted, Schema } from "effect"
import { type ConnectionStatus, Member, Mfa } from "../src/index.js"
import { Arbitraries } from "../src/testing.js"

const answer = (guid: string, value: string) =>
  new Member.CredentialValue({ guid: Member.CredentialGuid.make(guid), value: Redacted.make(value) })

const text = new Member.Challenge({
  guid: Member.CredentialGuid.make("CRD-TEXT"),
  type: "TEXT",
  label: "What is your favourite colour?",
  options: [],
  image_options: []
})
const options = new Member.Challenge({
  guid: Member.CredentialGuid.make("CRD-OPT"),
  type: "OPTIONS",
  label: "Where should we send the code?",
  options: [
    new Member.ChallengeOption({ guid: "CRO-1", label: "Text", value: "text" }),
    new Member.ChallengeOption({ guid: "CRO-2", label: "Email", value: "email" })
  ],
  image_options: []
})

const problems = (challenges: ReadonlyArray<Member.Challenge>, answers: ReadonlyArray<Member.CredentialValue>) =>
  Effect.flip(Mfa.validateAnswers(challenges, answers)).pipe(
    Effect.map((e) =>
      e._tag === "EmptyResume" ? ["EmptyResume"] : e.problems.map((p) => `${p.challengeGuid}:${p.reason}`)
    )
  )

describe("Mfa.validateAnswers", () => {
  it.effect.prop(
    "accepts a valid answer to every challenge",
    [Arbitraries.challengesWithAnswers],
    ([{ answers, challenges }]) =>
      Effect.gen(function*() {
        const ok = yield* Mfa.validateAnswers(challenges, [...answers].reverse())
        assert.deepStrictEqual(ok.map((a) => a.guid), challenges.map((c) => c.guid))
      })
  )

  it.effect.prop(
    "refuses when any challenge is left unanswered",
    [Arbitraries.challengesWithAnswers],
    ([{ answers, challenges }]) =>
      Effect.gen(function*() {
        const found = yield* problems(challenges, answers.slice(1))
        assert.include(found, `${challenges[0]!.guid}:Unanswered`)
      })
  )

  it.effect("refuses unknown guids, duplicates, blank text and options that were not offered, naming each", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(
        yield* problems([text, options], [answer("CRD-TEXT", "   "), answer("CRD-OPT", "fax"), answer("CRD-X", "1")]),
        ["CRD-X:UnknownChallenge", "CRD-TEXT:Empty", "CRD-OPT:NotAnOption"]
      )
      assert.deepStrictEqual(
        yield* problems([text], [answer("CRD-TEXT", "blue"), answer("CRD-TEXT", "red")]),
        ["CRD-TEXT:DuplicateAnswer"]
      )
    }))

  it.effect("accepts an option by value or by option guid", () =>
    Effect.gen(function*() {
      yield* Mfa.validateAnswers([options], [answer("CRD-OPT", "email")])
      yield* Mfa.validateAnswers([options], [answer("CRD-OPT", "CRO-1")])
    }))

  it.effect("a challenge of a missing or unknown type is answered as text", () =>
    Effect.gen(function*() {
      const decode = Schema.decodeUnknownSync(Member.Challenge)
      const key = decode({ guid: "CRD-KEY", type: "SECURITY_KEY", label: "Security key" })
      const untyped = decode({ guid: "CRD-NONE", type: null, label: "Code" })
      const ok = yield* Mfa.validateAnswers([key, untyped], [answer("CRD-KEY", "any text"), answer("CRD-NONE", "42")])
      assert.deepStrictEqual(ok.map((a) => a.guid), ["CRD-KEY", "CRD-NONE"])
      assert.deepStrictEqual(yield* problems([key], [answer("CRD-KEY", "  ")]), ["CRD-KEY:Empty"])
    }))

  it.effect("an empty resume (no answers) is refused", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* Effect.flip(Mfa.validateAnswers([], [])), new Mfa.EmptyResume())
      assert.deepStrictEqual(
        yield* Effect.flip(Mfa.prepareResume("CHALLENGED", [], [])),
        new Mfa.EmptyResume()
      )
      assert.deepStrictEqual(yield* problems([text, options], []), ["CRD-TEXT:Unanswered", "CRD-OPT:Unanswered"])
    }))

  it.effect("the error never shows an answer", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Mfa.validateAnswers([options], [answer("CRD-OPT", "secret-answer")]))
      assert.notInclude(error.message, "secret-answer")
      assert.notInclude(JSON.stringify(error), "secret-answer")
      assert.notInclude(String(error), "secret-answer")
    }))
})

describe("Mfa.prepareResume", () => {
  it.effect.prop(
    "refuses to resume a member that is not CHALLENGED",
    [Arbitraries.nullableReportedStatus],
    ([status]) =>
      Effect.gen(function*() {
        const exit = yield* Effect.exit(Mfa.prepareResume(status, [text], [answer("CRD-TEXT", "blue")]))
        if (status === "CHALLENGED") assert.isTrue(Exit.isSuccess(exit))
        else assert.deepStrictEqual(exit, Exit.fail(new Mfa.MemberNotChallenged({ status })))
      })
  )
})

describe("Mfa multi-round cycle", () => {
  const run = (steps: ReadonlyArray<readonly [ConnectionStatus.NullableReportedStatus, boolean]>) =>
    steps.reduce((cycle, [status, aggregating]) => Mfa.observe(cycle, status, aggregating), Mfa.initialCycle)

  it("CHALLENGED -> RESUMED -> CHALLENGED -> RESUMED -> CONNECTED is one aggregation with two rounds", () => {
    const cycle = run([
      ["CREATED", true],
      ["CHALLENGED", true],
      ["CHALLENGED", true],
      ["RESUMED", true],
      ["CHALLENGED", true],
      ["RESUMED", true],
      ["CONNECTED", true],
      ["CONNECTED", false]
    ])
    assert.strictEqual(cycle.rounds, 2)
    assert.strictEqual(cycle.ended, "CONNECTED")
    assert.isFalse(cycle.awaitingAnswers)
  })

  it("a wrong answer ends the aggregation at REJECTED; later statuses belong to a new one", () => {
    const cycle = run([["CHALLENGED", true], ["REJECTED", false], ["CHALLENGED", true]])
    assert.strictEqual(cycle.ended, "REJECTED")
    assert.strictEqual(cycle.rounds, 1)
  })

  it.prop("any number of rounds stays one aggregation until it settles", [fc.integer({ min: 1, max: 8 })], ([n]) => {
    const steps = Array.from({ length: n }, () => [["CHALLENGED", true], ["RESUMED", true]] as const).flat()
    const cycle = run([...steps, ["CONNECTED", false]])
    assert.strictEqual(cycle.rounds, n)
    assert.strictEqual(cycle.ended, "CONNECTED")
  })
})
