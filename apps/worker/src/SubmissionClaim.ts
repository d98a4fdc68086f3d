/**
 * The claim a submission takes before it acts on a member at MX (new credentials, MFA answers): one
 * submission at a time, across replicas, for a bounded time, and MX calls that end before the claim
 * may be taken over.
 *
 * @since 0.1.0
 */
import { MxApiError } from "@mx-aggregation/mx-api"
import { Duration, Effect } from "effect"
import type * as EngineConfig from "./EngineConfig.js"

/**
 * How long a submission that acts on a member at MX (new credentials, MFA answers) holds the member or
 * the MFA round, in real time. Another submission takes a claim over only once it lapsed (its replica
 * died, MX's answer unknown), and then first asks MX what became of it. The holder gives each of its
 * MX calls at most half of it, so that they end before anyone may take over.
 *
 * @since 0.1.0
 * @category constants
 */
export const submissionClaim: Duration.Duration = Duration.seconds(10)

/**
 * A submission's claim in MX time (epoch ms are MX time: the store's times and the claims' expiries).
 *
 * @since 0.1.0
 * @category constants
 */
export const claimMillis = (config: EngineConfig.Service): number =>
  Duration.toMillis(submissionClaim) * config.timeScale

/**
 * An MX call of a claim's holder, bounded by half the claim: when MX has not answered by then, its
 * answer is unknown (a `Transport` failure), and the call ends before the claim may be taken over.
 *
 * @since 0.1.0
 * @category combinators
 */
export const withinClaim =
  (config: EngineConfig.Service) => <A>(operation: string, call: Effect.Effect<A, MxApiError.MxApiError>) =>
    call.pipe(Effect.timeoutFail({
      duration: Duration.millis(claimMillis(config) / 2),
      onTimeout: () =>
        new MxApiError.MxApiError({
          reason: "Transport",
          operation,
          message: `No answer from MX to ${operation} within ${
            Duration.format(Duration.millis(Duration.toMillis(submissionClaim) / 2))
          }: whether MX acted on it is unknown`
        })
    }))

/**
 * Whether MX certainly did not act on a failed request: it answered with a refusal (4xx) or 503.
 *
 * @since 0.1.0
 * @category predicates
 */
export const mxDidNotAct = (error: MxApiError.MxApiError): boolean =>
  error.status !== undefined && ((error.status >= 400 && error.status < 500) || error.status === 503)
