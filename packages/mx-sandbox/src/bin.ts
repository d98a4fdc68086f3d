/**
 * Runs the sandbox as a command: `npx tsx packages/mx-sandbox/src/bin.ts --port 8089`. Prints its
 * URL and the test credentials, then serves until interrupted.
 *
 * Flags: `--port <n>` (default 8089; 0 = a free port), `--host <h>` (default 127.0.0.1),
 * `--time-scale <x>` (MX seconds per real second, default 1), `--seed <s>`, `--webhook-url <url>`,
 * `--client-id <id>`, `--api-key <key>`, `--demo <users>` (seed demo users with one CONNECTED member
 * each), `--no-background` (no daily background aggregation).
 *
 * @since 0.1.0
 */
import { NodeHttpClient, NodeRuntime } from "@effect/platform-node"
import { Console, Effect, Layer, Redacted } from "effect"
import * as Institutions from "./Institutions.js"
import * as MxBank from "./MxBank.js"
import * as Sandbox from "./Sandbox.js"

const usage = `usage: mx-sandbox [--port 8089] [--host 127.0.0.1] [--time-scale 1] [--seed 1]
                  [--webhook-url URL] [--client-id ID] [--api-key KEY] [--demo USERS] [--no-background]`

const parseArgs = (argv: ReadonlyArray<string>): Map<string, string> => {
  const flags = new Map<string, string>()
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg === "--help" || arg === "-h") {
      console.log(usage)
      process.exit(0)
    }
    if (!arg.startsWith("--")) {
      console.error(`mx-sandbox: unexpected argument ${arg}\n${usage}`)
      process.exit(2)
    }
    const [name, inline] = arg.slice(2).split("=", 2) as [string, string | undefined]
    if (name === "no-background") {
      flags.set(name, "true")
      continue
    }
    const value = inline ?? argv[++i]
    if (value === undefined) {
      console.error(`mx-sandbox: --${name} needs a value\n${usage}`)
      process.exit(2)
    }
    flags.set(name, value)
  }
  return flags
}

const numberFlag = (flags: Map<string, string>, name: string, fallback: number): number => {
  const raw = flags.get(name)
  if (raw === undefined) return fallback
  const value = Number(raw)
  if (!Number.isFinite(value) || value < 0) {
    console.error(`mx-sandbox: --${name} must be a non-negative number, got ${raw}`)
    process.exit(2)
  }
  return value
}

const flags = parseArgs(process.argv.slice(2))
const known = ["port", "host", "time-scale", "seed", "webhook-url", "client-id", "api-key", "demo", "no-background"]
for (const name of flags.keys()) {
  if (!known.includes(name)) {
    console.error(`mx-sandbox: unknown flag --${name}\n${usage}`)
    process.exit(2)
  }
}
const timeScale = numberFlag(flags, "time-scale", 1)
if (timeScale <= 0) {
  console.error("mx-sandbox: --time-scale must be positive")
  process.exit(2)
}

const passwordTable = (): string => {
  const rows = [
    ["(any other)", "CONNECTED", "successful aggregation, no MFA"],
    ...MxBank.passwords.map((row) => [row.password, row.outcome, row.description])
  ]
  const width = Math.max(...rows.map(([password]) => password!.length))
  return rows.map(([password, outcome, description]) =>
    `  ${password!.padEnd(width)}  ${outcome!.padEnd(12)}  ${description}`
  ).join("\n")
}

const Main = Layer.effectDiscard(Effect.gen(function*() {
  const server = yield* Sandbox.SandboxServer
  const sandbox = yield* Sandbox.Sandbox
  const demo = numberFlag(flags, "demo", 0)
  const seeded = demo > 0 ? yield* sandbox.seedDemo({ users: demo }) : []
  const { apiKey, clientId } = sandbox.credentials
  yield* Console.log([
    `MX sandbox listening on ${server.url}`,
    "",
    `Basic auth     client_id: ${clientId}   api_key: ${Redacted.value(apiKey)}`,
    `Headers        Accept: application/vnd.mx.api.v1+json   (Accept-Version: v20111101 optional)`,
    `Time scale     ${timeScale} MX second(s) per second`,
    `Institutions   ${Institutions.all.map((institution) => `${institution.code} (${institution.name})`).join(", ")}`,
    `MX Bank        username ${MxBank.username}; MFA answer \`${MxBank.correctAnswer}\` succeeds, ` +
    `\`${MxBank.nextRoundAnswer}\` asks another question`,
    "",
    "MX Bank passwords:",
    passwordTable(),
    "",
    `Stats          GET ${server.url}/sandbox/stats`,
    ...seeded.map((user) => `Demo user      ${user.userGuid}  members ${user.memberGuids.join(", ")}`)
  ].join("\n"))
}))

Main.pipe(
  Layer.provide(Sandbox.layerServer({
    port: numberFlag(flags, "port", 8089),
    host: flags.get("host") ?? "127.0.0.1",
    timeScale,
    seed: flags.get("seed"),
    clientId: flags.get("client-id"),
    apiKey: flags.get("api-key"),
    background: { enabled: !flags.has("no-background") },
    webhooks: { url: flags.get("webhook-url") }
  })),
  Layer.provide(NodeHttpClient.layerUndici),
  Layer.launch,
  NodeRuntime.runMain
)
