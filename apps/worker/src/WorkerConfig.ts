/**
 * The worker's configuration from the environment, with defaults that make `npm start` work with
 * nothing set. An invalid value stops start-up with a message naming the variable.
 *
 * It fails closed: the embedded demo (an in-process MX sandbox that seeds fake members) runs only when
 * nothing points at real infrastructure (no `DATABASE_URL`, no `MX_*` variable) or when asked for with
 * `WORKER_DEMO=true`. Half a configuration (`MX_CLIENT_ID` without `MX_API_KEY`, a `DATABASE_URL`
 * without MX credentials) is an error, never the demo.
 *
 * @since 0.1.0
 */
import type { Member } from "@mx-aggregation/domain"
import { Config, ConfigError, Duration, Either, Option, Redacted } from "effect"
import * as MetricsAccess from "./MetricsAccess.js"
import * as Notifications from "./Notifications.js"
import * as RunnerTransport from "./RunnerTransport.js"
import * as Tls from "./Tls.js"
import * as WebhookListener from "./WebhookListener.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface WorkerConfig {
  /**
   * Set: talk to the MX API with `MX_CLIENT_ID` / `MX_API_KEY` (at `MX_BASE_URL`). None: the embedded
   * demo with its in-process sandbox.
   */
  readonly mx: Option.Option<{ readonly clientId: string }>
  /** Users whose members the scheduler discovers (`WORKER_USERS`, comma-separated guids). */
  readonly users: ReadonlyArray<Member.UserGuid>
  readonly port: number
  readonly host: string
  /** `WORKER_METRICS_PORT`: serve Prometheus metrics at `GET /metrics` on this port (on `metricsHost`). */
  readonly metricsPort: Option.Option<number>
  /** `WORKER_METRICS_HOST`: the interface the metrics listen on (default: `host`). */
  readonly metricsHost: string
  /**
   * `WORKER_METRICS_TOKEN`: the bearer token `/metrics` requires; it must be set when `metricsHost` is
   * not loopback (see `MetricsAccess`).
   */
  readonly metricsToken: Option.Option<Redacted.Redacted<string>>
  /**
   * `WORKER_RUNNER_PORT` (+ `WORKER_RUNNER_HOST`, `WORKER_RUNNER_LISTEN_HOST`, and the required
   * `WORKER_RUNNER_SECRET`): run as one of several replicas.
   */
  readonly runner: Option.Option<{
    readonly host: string
    readonly port: number
    readonly listenHost: string | undefined
    readonly secret: Redacted.Redacted<string>
  }>
  /** `WORKER_API_TOKEN` (at least 32 characters with MX); generated (and printed) when unset in the demo. */
  readonly apiToken: Option.Option<Redacted.Redacted<string>>
  /**
   * `WORKER_API_MAX_BODY_BYTES`, `WORKER_API_TIMEOUT`, `WORKER_API_RATE_LIMIT` (requests per minute per
   * client), `WORKER_TRUST_PROXY` (the client is the first address of `X-Forwarded-For`).
   */
  readonly apiLimits: {
    readonly maxBodyBytes: number
    readonly requestTimeout: Duration.Duration
    readonly requestsPerMinute: number
    readonly trustProxy: boolean
  }
  readonly cadence: Duration.Duration
  readonly freshness: Duration.Duration
  readonly mfaTimeout: Duration.Duration
  /** `WORKER_CHALLENGE_CHECK_INTERVAL`: how often a run waiting for MFA answers asks MX whether it still asks them. */
  readonly challengeCheckInterval: Duration.Duration
  readonly maxConcurrentRuns: number
  readonly timeScale: number
  /**
   * `WORKER_WEBHOOKS=true`: MX webhooks reach the webhook listener (its own port, Basic credentials);
   * runs poll slowly, webhooks wake them.
   */
  readonly webhooks: Option.Option<WebhookListener.Settings>
  /** `WORKER_TLS_CERT_FILE` + `WORKER_TLS_KEY_FILE`: the control API and the webhook listener serve HTTPS. */
  readonly tls: Option.Option<Tls.Files>
  /** With a time scale: the real epoch ms at which MX time equalled real time (the sandbox's start). */
  readonly timeOrigin: Option.Option<number>
  readonly demoMembers: number
  /** `WORKER_NOTIFY_URL` + `WORKER_NOTIFY_SECRET`: deliver partner events there. */
  readonly notifications: Option.Option<Notifications.Options>
}

const positive = (name: string) =>
  Config.integer(name).pipe(
    Config.validate({ message: `${name} must be a positive integer`, validation: (n) => n > 0 })
  )

const duration = (name: string, fallback: Duration.DurationInput) =>
  Config.duration(name).pipe(
    Config.validate({
      message: `${name} must be a positive duration such as "6 hours"`,
      validation: (d) => Duration.toMillis(d) > 0
    }),
    Config.withDefault(Duration.decode(fallback))
  )

/** `WORKER_RUNNER_SECRET`: long enough that it cannot be guessed; the refusal never prints it. */
const runnerSecret = Config.redacted("WORKER_RUNNER_SECRET").pipe(
  Config.validate({
    message:
      `WORKER_RUNNER_SECRET must be at least ${RunnerTransport.minimumSecretLength} characters (e.g. \`openssl rand -hex 32\`)`,
    validation: (secret) => Redacted.value(secret).length >= RunnerTransport.minimumSecretLength
  })
)

/**
 * The `MX_*` variables the worker reads: any of them set means the operator meant MX, not the demo.
 *
 * @since 0.1.0
 * @category constants
 */
export const mxVariables: ReadonlyArray<string> = [
  "MX_CLIENT_ID",
  "MX_API_KEY",
  "MX_BASE_URL",
  "MX_RATE_LIMIT",
  "MX_MAX_CONCURRENCY",
  "MX_REQUEST_TIMEOUT"
]

/**
 * The shortest `WORKER_API_TOKEN` accepted when the worker talks to MX.
 *
 * @since 0.1.0
 * @category constants
 */
export const minimumApiTokenLength = 32

/** Hosts for which `MX_BASE_URL` may be plain http: the traffic never leaves the machine. */
const loopbackHosts: ReadonlySet<string> = new Set(["127.0.0.1", "[::1]", "localhost"])

/** Whether MX's base URL keeps the API key off the network in clear text. */
const safeBaseUrl = (url: string): boolean => {
  try {
    const parsed = new URL(url)
    return parsed.protocol === "https:" || (parsed.protocol === "http:" && loopbackHosts.has(parsed.hostname))
  } catch {
    return false
  }
}

/** Set and not blank. */
const isSet = (name: string) =>
  Config.option(Config.string(name)).pipe(Config.map(Option.exists((value) => value.trim() !== "")))

interface Mode {
  readonly mx: WorkerConfig["mx"]
  readonly apiToken: WorkerConfig["apiToken"]
}

/**
 * Demo or MX, from what is set, and the control token the mode needs. Values of secrets and of
 * `DATABASE_URL` (it may hold a password) never appear in a message.
 */
const mode = Config.all({
  demo: Config.option(Config.boolean("WORKER_DEMO")),
  clientId: Config.option(Config.string("MX_CLIENT_ID")).pipe(
    Config.map(Option.filter((id) => id.trim() !== ""))
  ),
  apiKey: isSet("MX_API_KEY"),
  baseUrl: Config.option(Config.string("MX_BASE_URL")),
  mxSet: Config.all(mxVariables.map((name) => Config.map(isSet(name), (set) => (set ? [name] : [])))),
  databaseUrl: isSet("DATABASE_URL"),
  apiToken: Config.option(Config.redacted(Config.nonEmptyString("WORKER_API_TOKEN")))
}).pipe(
  Config.mapOrFail(({ apiKey, apiToken, baseUrl, clientId, databaseUrl, demo, mxSet }): Either.Either<
    Mode,
    ConfigError.ConfigError
  > => {
    const fail = (variable: string, message: string) => Either.left(ConfigError.InvalidData([variable], message))
    const credentials = Option.isSome(clientId) || apiKey
    if (Option.getOrUndefined(demo) === true) {
      return credentials
        ? fail(
          "WORKER_DEMO",
          "WORKER_DEMO=true runs the embedded demo sandbox, but MX_CLIENT_ID / MX_API_KEY are set: unset one or the other"
        )
        : Either.right({ mx: Option.none(), apiToken })
    }
    if (Option.isSome(clientId) && !apiKey) {
      return fail("MX_API_KEY", "MX_CLIENT_ID is set but MX_API_KEY is not: the worker needs both to talk to MX")
    }
    if (Option.isNone(clientId) && apiKey) {
      return fail("MX_CLIENT_ID", "MX_API_KEY is set but MX_CLIENT_ID is not: the worker needs both to talk to MX")
    }
    if (Option.isNone(clientId)) {
      const set = mxSet.flat()
      if (Option.getOrUndefined(demo) === false) {
        return fail("MX_CLIENT_ID", "WORKER_DEMO=false: set MX_CLIENT_ID and MX_API_KEY for the worker to talk to MX")
      }
      if (databaseUrl) {
        return fail(
          "DATABASE_URL",
          "DATABASE_URL is set but MX_CLIENT_ID and MX_API_KEY are not: the worker will not seed its demo's fake " +
            "members into that database. Set MX_CLIENT_ID and MX_API_KEY to talk to MX, or WORKER_DEMO=true to run " +
            "the demo on it"
        )
      }
      if (set.length > 0) {
        return fail(
          set[0]!,
          `${set.join(", ")} ${set.length === 1 ? "is" : "are"} set but MX_CLIENT_ID and MX_API_KEY are not: set ` +
            "them to talk to MX, or unset the MX_* variables (or set WORKER_DEMO=true) for the embedded demo"
        )
      }
      return Either.right({ mx: Option.none(), apiToken })
    }
    if (Option.isSome(baseUrl) && !safeBaseUrl(baseUrl.value)) {
      return fail(
        "MX_BASE_URL",
        "MX_BASE_URL must be an https:// URL (http:// only for 127.0.0.1, ::1 or localhost): the API key goes with " +
          "every request"
      )
    }
    if (Option.isNone(apiToken)) {
      return Either.left(ConfigError.MissingData(
        ["WORKER_API_TOKEN"],
        "WORKER_API_TOKEN must be set when the worker talks to MX: it guards the control API"
      ))
    }
    if (Redacted.value(apiToken.value).length < minimumApiTokenLength) {
      return fail(
        "WORKER_API_TOKEN",
        `WORKER_API_TOKEN must be at least ${minimumApiTokenLength} characters when the worker talks to MX ` +
          "(generate one, e.g. `openssl rand -hex 32`)"
      )
    }
    return Either.right({ mx: Option.some({ clientId: clientId.value }), apiToken })
  })
)

/** Two listeners cannot share a port (0 picks a free one for each). */
const distinctPorts = (config: WorkerConfig): Either.Either<WorkerConfig, ConfigError.ConfigError> => {
  const webhookPort = Option.map(config.webhooks, (w) => w.port)
  const clash = (a: Option.Option<number>, b: Option.Option<number>) =>
    Option.isSome(a) && Option.isSome(b) && a.value !== 0 && a.value === b.value
  if (clash(webhookPort, Option.some(config.port))) {
    return Either.left(
      ConfigError.InvalidData(["WORKER_WEBHOOK_PORT"], "WORKER_WEBHOOK_PORT must differ from WORKER_PORT")
    )
  }
  if (clash(webhookPort, config.metricsPort)) {
    return Either.left(
      ConfigError.InvalidData(["WORKER_WEBHOOK_PORT"], "WORKER_WEBHOOK_PORT must differ from WORKER_METRICS_PORT")
    )
  }
  return Either.right(config)
}

/**
 * The worker's configuration.
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<WorkerConfig> = Config.all({
  mode,
  users: Config.array(Config.nonEmptyString(), "WORKER_USERS").pipe(
    Config.withDefault([] as Array<string>),
    Config.map((users) =>
      users.map((u) => u.trim()).filter((u) => u.length > 0) as unknown as ReadonlyArray<Member.UserGuid>
    )
  ),
  port: Config.port("WORKER_PORT").pipe(Config.withDefault(8787)),
  host: Config.string("WORKER_HOST").pipe(Config.withDefault("127.0.0.1")),
  metricsPort: Config.option(Config.port("WORKER_METRICS_PORT")),
  metricsHost: Config.option(Config.nonEmptyString("WORKER_METRICS_HOST")),
  metricsToken: Config.option(
    Config.redacted("WORKER_METRICS_TOKEN").pipe(
      Config.validate({
        message: `WORKER_METRICS_TOKEN must be at least ${MetricsAccess.minimumTokenLength} characters`,
        validation: (token) => Redacted.value(token).trim().length >= MetricsAccess.minimumTokenLength
      })
    )
  ),
  runner: Config.all({
    port: Config.option(Config.port("WORKER_RUNNER_PORT")),
    host: Config.string("WORKER_RUNNER_HOST").pipe(Config.withDefault("127.0.0.1")),
    listenHost: Config.option(Config.string("WORKER_RUNNER_LISTEN_HOST")),
    secret: Config.option(runnerSecret)
  }).pipe(
    Config.mapOrFail(({ host, listenHost, port, secret }) => {
      if (Option.isNone(port)) return Either.right(Option.none())
      if (Option.isNone(secret)) {
        return Either.left(ConfigError.MissingData(
          ["WORKER_RUNNER_SECRET"],
          `WORKER_RUNNER_SECRET must be set when WORKER_RUNNER_PORT is: the secret every replica shares (at least ${RunnerTransport.minimumSecretLength} characters)`
        ))
      }
      return Either.right(
        Option.some({ host, port: port.value, listenHost: Option.getOrUndefined(listenHost), secret: secret.value })
      )
    })
  ),
  apiLimits: Config.all({
    maxBodyBytes: positive("WORKER_API_MAX_BODY_BYTES").pipe(Config.withDefault(64 * 1024)),
    requestTimeout: duration("WORKER_API_TIMEOUT", "30 seconds"),
    requestsPerMinute: positive("WORKER_API_RATE_LIMIT").pipe(Config.withDefault(600)),
    trustProxy: Config.boolean("WORKER_TRUST_PROXY").pipe(Config.withDefault(false))
  }),
  cadence: duration("WORKER_REFRESH_CADENCE", "6 hours"),
  freshness: duration("WORKER_FRESHNESS", "24 hours"),
  mfaTimeout: duration("WORKER_MFA_TIMEOUT", "4 minutes"),
  challengeCheckInterval: duration("WORKER_CHALLENGE_CHECK_INTERVAL", "30 seconds"),
  maxConcurrentRuns: positive("WORKER_MAX_CONCURRENT_RUNS").pipe(Config.withDefault(50)),
  timeScale: Config.number("WORKER_TIME_SCALE").pipe(
    Config.validate({ message: "WORKER_TIME_SCALE must be a number >= 1", validation: (n) => n >= 1 }),
    Config.withDefault(1)
  ),
  webhooks: WebhookListener.config,
  tls: Tls.config,
  timeOrigin: Config.option(Config.integer("WORKER_TIME_ORIGIN")),
  demoMembers: positive("WORKER_DEMO_MEMBERS").pipe(Config.withDefault(12)),
  notifications: Notifications.config
}).pipe(
  Config.mapOrFail(({ metricsHost, mode, ...rest }): Either.Either<WorkerConfig, ConfigError.ConfigError> => {
    const host = Option.getOrElse(metricsHost, () => rest.host)
    // Only a served endpoint needs the token: without WORKER_METRICS_PORT nothing listens.
    const exposed = Option.isSome(rest.metricsPort)
      ? MetricsAccess.checkExposure(host, Option.getOrUndefined(rest.metricsToken))
      : undefined
    return exposed === undefined
      ? distinctPorts({ ...rest, metricsHost: host, mx: mode.mx, apiToken: mode.apiToken })
      : Either.left(ConfigError.MissingData(["WORKER_METRICS_TOKEN"], exposed.message))
  })
)
