import { HttpClient } from "@effect/platform"
import { assert, describe, it } from "@effect/vitest"
import { Member } from "@mx-aggregation/domain"
import { Cause, ConfigProvider, Effect, Exit, Layer, Option } from "effect"
import * as MxClient from "../src/MxClient.js"
import { runWithClock } from "./support/Clock.js"
import * as Fake from "./support/FakeMx.js"

const { memberGuid, userGuid } = Fake

const withEnv = (env: Record<string, string>) =>
  Layer.setConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))

const readThroughLayer = (fake: Fake.FakeMx, env: Record<string, string>) =>
  Effect.flatMap(MxClient.MxClient, (mx) => mx.readMember({ userGuid, memberGuid })).pipe(
    Effect.provide(
      MxClient.layerConfig().pipe(
        Layer.provide(Layer.succeed(HttpClient.HttpClient, fake.client)),
        Layer.provide(withEnv(env))
      )
    )
  )

describe("MxClient layers", () => {
  it.effect("layerConfig reads MX_CLIENT_ID and MX_API_KEY; the base URL defaults to int-api.mx.com", () =>
    Effect.gen(function*() {
      const fake = Fake.make(() => ({ status: 200, body: Fake.memberBody() }))
      yield* readThroughLayer(fake, { MX_CLIENT_ID: Fake.clientId, MX_API_KEY: Fake.apiKey })
      const [request] = fake.requests
      assert.strictEqual(request!.url.href, `https://int-api.mx.com/users/${userGuid}/members/${memberGuid}`)
      assert.strictEqual(request!.headers["authorization"], Fake.expectedAuthorization)
    }))

  it.effect("MX_BASE_URL (with or without a trailing slash) moves the client", () =>
    Effect.gen(function*() {
      const fake = Fake.make(() => ({ status: 200, body: Fake.memberBody() }))
      yield* readThroughLayer(fake, {
        MX_CLIENT_ID: Fake.clientId,
        MX_API_KEY: Fake.apiKey,
        MX_BASE_URL: "http://127.0.0.1:4010/"
      })
      assert.strictEqual(fake.requests[0]!.url.href, `http://127.0.0.1:4010/users/${userGuid}/members/${memberGuid}`)
    }))

  it.effect("a missing API key or an invalid limit is a ConfigError naming the variable", () =>
    Effect.gen(function*() {
      const fake = Fake.make(() => ({ status: 200, body: Fake.memberBody() }))
      const missing = yield* Effect.flip(readThroughLayer(fake, { MX_CLIENT_ID: Fake.clientId }))
      assert.include(String(missing), "MX_API_KEY")
      const invalid = yield* Effect.flip(
        readThroughLayer(fake, { MX_CLIENT_ID: Fake.clientId, MX_API_KEY: Fake.apiKey, MX_RATE_LIMIT: "0" })
      )
      assert.include(String(invalid), "MX_RATE_LIMIT")
      assert.strictEqual(fake.requests.length, 0)
    }))

  it.effect("the API key read from config is Redacted", () =>
    Effect.gen(function*() {
      const options = yield* MxClient.config.pipe(
        Effect.withConfigProvider(
          ConfigProvider.fromMap(new Map([["MX_CLIENT_ID", Fake.clientId], ["MX_API_KEY", Fake.apiKey]]))
        )
      )
      assert.notInclude(String(options.apiKey), Fake.apiKey)
      assert.notInclude(JSON.stringify(options), Fake.apiKey)
      assert.strictEqual(options.requestsPerSecond, MxClient.defaultRequestsPerSecond)
      assert.strictEqual(options.maxConcurrency, MxClient.defaultMaxConcurrency)
    }))

  it.effect("an attempt MX never answers times out as a Transport failure, and is retried", () =>
    Effect.gen(function*() {
      const fake = Fake.make((_, i) =>
        i === 0 ? { status: 200, body: Fake.memberBody(), delay: "1 hour" } : { status: 200, body: Fake.memberBody() }
      )
      const mx = yield* Fake.client(fake, { requestTimeout: "5 seconds" })
      const exit = yield* runWithClock(mx.readMember({ userGuid, memberGuid }))
      assert.isTrue(Exit.isSuccess(exit))
      assert.strictEqual(fake.requests.length, 2)
      assert.isAtLeast(fake.requests[1]!.at - fake.requests[0]!.at, 5000)
    }))

  it.effect("a timed-out createMember is not retried (outcome unknown)", () =>
    Effect.gen(function*() {
      const fake = Fake.make(() => ({ status: 200, body: Fake.memberBody(), delay: "1 hour" }))
      const mx = yield* Fake.client(fake, { requestTimeout: "5 seconds" })
      const exit = yield* runWithClock(
        mx.createMember({ userGuid, institutionCode: Member.InstitutionCode.make("mxbank"), credentials: [] })
      )
      assert.isTrue(Exit.isFailure(exit))
      assert.strictEqual(fake.requests.length, 1)
      const error = Exit.isFailure(exit) ? Option.getOrThrow(Cause.failureOption(exit.cause)) : undefined
      assert.strictEqual(error?.reason, "Transport")
      assert.include(error?.message, "within 5s")
    }))
})
