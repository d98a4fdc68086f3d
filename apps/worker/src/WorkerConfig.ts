/**
 * The worker's configuration from the environment, with defaults that make `npm start` work with
 * nothing set. An invalid value stops start-up with a message naming the variable.
 *
 * @since 0.1.0
 */
import type { Member } from "@mx-aggregation/domain"
import { Config, ConfigError, Duration, Either, Option, Redacted } from "effect"
import * as MetricsAccess from "./MetricsAccess.js"
import * as Notifications from "./Notifications.js"
import * as RunnerTransport from "./RunnerTransport.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface WorkerConfig {
  /** Set: talk to the real MX API with `MX_CLIENT_ID` / `MX_API_KEY`. Unset: the in-process sandbox. */
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
  /** `WORKER_API_TOKEN`; generated (and printed) when unset in embedded mode. */
  readonly apiToken: Option.Option<Redacted.Redacted<string>>
  /** `WORKER_API_MAX_BODY_BYTES`, `WORKER_API_TIMEOUT`, `WORKER_API_RATE_LIMIT` (requests per minute per client). */
  readonly apiLimits: {
    readonly maxBodyBytes: number
    readonly requestTimeout: Duration.Duration
    readonly requestsPerMinute: number
  }
  readonly cadence: Duration.Duration
  readonly freshness: Duration.Duration
  readonly mfaTimeout: Duration.Duration
  readonly maxConcurrentRuns: number
  readonly timeScale: number
  /** MX webhooks are configured to reach `/webhooks/mx`: poll slowly, webhooks wake runs. */
  readonly webhooks: boolean
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
 * The worker's configuration.
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<WorkerConfig> = Config.all({
  mx: Config.option(Config.nonEmptyString("MX_CLIENT_ID")).pipe(Config.map(Option.map((clientId) => ({ clientId })))),
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
  apiToken: Config.option(Config.redacted(Config.nonEmptyString("WORKER_API_TOKEN"))),
  apiLimits: Config.all({
    maxBodyBytes: positive("WORKER_API_MAX_BODY_BYTES").pipe(Config.withDefault(64 * 1024)),
    requestTimeout: duration("WORKER_API_TIMEOUT", "30 seconds"),
    requestsPerMinute: positive("WORKER_API_RATE_LIMIT").pipe(Config.withDefault(600))
  }),
  cadence: duration("WORKER_REFRESH_CADENCE", "6 hours"),
  freshness: duration("WORKER_FRESHNESS", "24 hours"),
  mfaTimeout: duration("WORKER_MFA_TIMEOUT", "4 minutes"),
  maxConcurrentRuns: positive("WORKER_MAX_CONCURRENT_RUNS").pipe(Config.withDefault(50)),
  timeScale: Config.number("WORKER_TIME_SCALE").pipe(
    Config.validate({ message: "WORKER_TIME_SCALE must be a number >= 1", validation: (n) => n >= 1 }),
    Config.withDefault(1)
  ),
  webhooks: Config.boolean("WORKER_WEBHOOKS").pipe(Config.withDefault(false)),
  timeOrigin: Config.option(Config.integer("WORKER_TIME_ORIGIN")),
  demoMembers: positive("WORKER_DEMO_MEMBERS").pipe(Config.withDefault(12)),
  notifications: Notifications.config
}).pipe(
  Config.mapOrFail(({ metricsHost, ...config }): Either.Either<WorkerConfig, ConfigError.ConfigError> => {
    const host = Option.getOrElse(metricsHost, () => config.host)
    // Only a served endpoint needs the token: without WORKER_METRICS_PORT nothing listens.
    const exposed = Option.isSome(config.metricsPort)
      ? MetricsAccess.checkExposure(host, Option.getOrUndefined(config.metricsToken))
      : undefined
    return exposed === undefined
      ? Either.right({ ...config, metricsHost: host })
      : Either.left(ConfigError.MissingData(["WORKER_METRICS_TOKEN"], exposed.message))
  })
)
