/**
 * `mx-aggregation sandbox`: serves the MX sandbox (@mx-aggregation/mx-sandbox) until SIGINT/SIGTERM,
 * as `npm run sandbox` does, and prints its URL, its test credentials and the MX Bank passwords.
 *
 * @since 0.1.0
 */
import { Command, Options, ValidationError } from "@effect/cli"
import * as HelpDoc from "@effect/cli/HelpDoc"
import type { MxBank } from "@mx-aggregation/mx-sandbox"
import * as SandboxOptions from "@mx-aggregation/mx-sandbox/Options"
import { Console, Effect, Layer, Option, Redacted } from "effect"
import { failed } from "./WorkerCommand.js"

const invalid = (message: string) => ValidationError.invalidValue(HelpDoc.p(message))

const nonNegativeInteger = (name: string, description: string, fallback: number) =>
  Options.integer(name).pipe(
    Options.withDescription(description),
    Options.withDefault(fallback),
    Options.mapEffect((
      n
    ) => (n >= 0 ? Effect.succeed(n) : Effect.fail(invalid(`--${name} must be 0 or more, got ${n}`))))
  )

/**
 * The sandbox command's options.
 *
 * @since 0.1.0
 * @category options
 */
export const options = {
  port: nonNegativeInteger("port", "The port (0: a free one)", 8089).pipe(
    Options.mapEffect((port) =>
      port <= 65535 ? Effect.succeed(port) : Effect.fail(invalid(`--port must be at most 65535, got ${port}`))
    )
  ),
  host: Options.text("host").pipe(
    Options.withDescription("The address to listen on"),
    Options.withDefault("127.0.0.1")
  ),
  timeScale: Options.float("time-scale").pipe(
    Options.withDescription("MX seconds per real second"),
    Options.withDefault(1),
    Options.mapEffect((x) =>
      x > 0 && Number.isFinite(x) ? Effect.succeed(x) : Effect.fail(invalid(`--time-scale must be positive, got ${x}`))
    )
  ),
  seed: Options.text("seed").pipe(Options.withDescription("Seeds guids, data and faults"), Options.optional),
  webhookUrl: Options.text("webhook-url").pipe(
    Options.withDescription(
      "Where to POST MX webhooks (e.g. the worker's webhook listener, https://user:password@host:8788/webhooks/mx: credentials in the URL are sent as HTTP Basic)"
    ),
    Options.optional
  ),
  clientId: Options.text("client-id").pipe(
    Options.withDescription(`The client id to accept (default ${SandboxOptions.defaultCredentials.clientId})`),
    Options.optional
  ),
  apiKey: Options.redacted("api-key").pipe(
    Options.withDescription(`The API key to accept (default ${SandboxOptions.defaultCredentials.apiKey})`),
    Options.optional
  ),
  demo: nonNegativeInteger("demo", "Seed this many demo users with one CONNECTED member each", 0),
  noBackground: Options.boolean("no-background").pipe(
    Options.withDescription("No daily background aggregation")
  )
} as const

/**
 * The MX Bank password table.
 *
 * @since 0.1.0
 * @category formatting
 */
export const passwordTable = (passwords: ReadonlyArray<MxBank.PasswordRow>): string => {
  const rows = [
    ["(any other)", "CONNECTED", "successful aggregation, no MFA"],
    ...passwords.map((row) => [row.password, row.outcome, row.description])
  ]
  const width = Math.max(...rows.map(([password]) => password!.length))
  return rows.map(([password, outcome, description]) =>
    `  ${password!.padEnd(width)}  ${outcome!.padEnd(12)}  ${description}`
  ).join("\n")
}

/**
 * `sandbox [--port n] [--host h] [--time-scale x] [--seed s] [--webhook-url u] [--client-id id]
 * [--api-key k] [--demo users] [--no-background]`.
 *
 * @since 0.1.0
 * @category commands
 */
export const command = Command.make("sandbox", options, (o) =>
  // Loaded on use: the sandbox's modules are not needed by the other commands.
  Effect.flatMap(Effect.promise(() => import("@mx-aggregation/mx-sandbox")), ({ Institutions, MxBank, Sandbox }) => {
    const banner = Layer.effectDiscard(Effect.gen(function*() {
      const server = yield* Sandbox.SandboxServer
      const sandbox = yield* Sandbox.Sandbox
      const seeded = o.demo > 0 ? yield* sandbox.seedDemo({ users: o.demo }) : []
      const { apiKey, clientId } = sandbox.credentials
      yield* Console.log([
        `MX sandbox listening on ${server.url}`,
        "",
        `Basic auth     client_id: ${clientId}   api_key: ${
          Option.isSome(o.apiKey) ? "(as given with --api-key)" : Redacted.value(apiKey)
        }`,
        `Headers        Accept: application/vnd.mx.api.v1+json   (Accept-Version: v20111101 optional)`,
        `Time scale     ${o.timeScale} MX second(s) per second`,
        `Institutions   ${Institutions.all.map((i) => `${i.code} (${i.name})`).join(", ")}`,
        `MX Bank        username ${MxBank.username}; MFA answer \`${MxBank.correctAnswer}\` succeeds, ` +
        `\`${MxBank.nextRoundAnswer}\` asks another question`,
        "",
        "MX Bank passwords:",
        passwordTable(MxBank.passwords),
        "",
        `Stats          GET ${server.url}/sandbox/stats`,
        ...seeded.map((user) => `Demo user      ${user.userGuid}  members ${user.memberGuids.join(", ")}`)
      ].join("\n"))
    }))
    return banner.pipe(
      Layer.provide(Sandbox.layerServer({
        port: o.port,
        host: o.host,
        timeScale: o.timeScale,
        seed: Option.getOrUndefined(o.seed),
        clientId: Option.getOrUndefined(o.clientId),
        apiKey: Option.getOrUndefined(o.apiKey),
        background: { enabled: !o.noBackground },
        webhooks: { url: Option.getOrUndefined(o.webhookUrl) }
      })),
      Layer.launch,
      Effect.mapError(failed("The sandbox stopped"))
    )
  })).pipe(Command.withDescription("Run the MX sandbox (a simulated MX Platform API) until interrupted"))
