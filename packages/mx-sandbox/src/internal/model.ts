/**
 * The records the sandbox keeps (users, members, jobs, challenges) and the status messages MX
 * shows with each connection status.
 *
 * @internal
 */
import type { ConnectionStatus } from "@mx-aggregation/domain"
import type { CredentialField, Institution } from "../Institutions.js"
import type * as MxBank from "../MxBank.js"
import type { AccountRec, TxRec } from "./data.js"

export interface UserRec {
  readonly guid: string
  id: string | null
  email: string | null
  isDisabled: boolean
  metadata: string | null
  /** Member guids in creation order. */
  readonly members: Set<string>
}

/** The job kinds MX runs on a member; only one runs at a time. */
export type JobType = "aggregation" | "balance" | "identification" | "verification" | "history" | "statements"

/** What started a standard aggregation. */
export type Origin = "create" | "credentials" | "aggregate" | "background" | "oauth"

export type Phase = "authenticating" | "challenged" | "resumed" | "delayed" | "accounts" | "finishing"

export interface ChallengeOptionRec {
  readonly guid: string
  readonly label: string
  readonly value: string
}

export interface ChallengeRec {
  readonly guid: string
  readonly type: MxBank.ChallengeKind
  readonly label: string
  readonly fieldName: string
  readonly imageData: string | null
  readonly options: ReadonlyArray<ChallengeOptionRec>
}

export interface Job {
  readonly guid: string
  readonly type: JobType
  readonly origin: Origin | "job"
  readonly startedAt: number
  readonly behaviour: MxBank.Behaviour
  phase: Phase
  /** MX time of the next transition. */
  nextAt: number
  /** MFA round, from 0. */
  round: number
  verdict: MxBank.Verdict | null
}

export interface MemberCredential {
  /** The member's own credential guid (not the institution's). */
  readonly guid: string
  readonly field: CredentialField
  value: string
}

export interface MemberRec {
  readonly guid: string
  readonly userGuid: string
  readonly institution: Institution
  readonly createdAt: number
  id: string | null
  metadata: string | null
  useCases: ReadonlyArray<string>
  readonly isOauth: boolean
  oauthWindowUri: string | null
  backgroundDisabled: boolean
  readonly credentials: Array<MemberCredential>
  callbackPayload: string | null

  status: ConnectionStatus.ConnectionStatus | null
  isBeingAggregated: boolean
  isAuthenticated: boolean
  hasProcessedAccounts: boolean
  hasProcessedAccountNumbers: boolean
  hasProcessedTransactions: boolean
  aggregatedAt: number | null
  successfullyAggregatedAt: number | null
  job: Job | null
  jobCount: number
  lastJobGuid: string | null
  detailCode: number | null
  detailText: string | null
  challenges: ReadonlyArray<ChallengeRec>
  deniedStreak: number
  lastManualAt: number | null
  nextBackgroundAt: number
  /** The time this member sits in the timer heap for, if any. */
  scheduledAt: number | undefined

  accounts: Array<AccountRec>
  transactions: Array<TxRec>
  successCount: number
  lastPollAt: number | null
}

/** MX's message for each status (`connection_status_message`), from MX's Connect widget texts. */
export const statusMessage = (status: ConnectionStatus.ConnectionStatus | null, institution: string): string | null => {
  switch (status) {
    case null:
      return null
    case "CREATED":
    case "UPDATED":
    case "RESUMED":
    case "RECONNECTED":
      return `Connecting to ${institution}...`
    case "PREVENTED":
      return "The last 3 attempts to connect have failed. Please re-enter your credentials to continue importing data."
    case "DENIED":
      return "The credentials entered do not match your credentials at this institution. Please re-enter your credentials to continue importing data."
    case "CHALLENGED":
      return `To authenticate your connection to ${institution}, please answer the following challenge(s).`
    case "REJECTED":
      return "The answer or answers provided were incorrect. Please try again."
    case "LOCKED":
      return `Your account is locked. Please log in to the appropriate website for ${institution} and follow the steps to resolve the issue.`
    case "CONNECTED":
      return `Connected to ${institution}.`
    case "IMPEDED":
      return `Your login info was correct, but your attention is needed at ${institution} before we can proceed.`
    case "DEGRADED":
      return "We are upgrading this connection. Please try again later."
    case "DISCONNECTED":
      return `It looks like your data from ${institution} cannot be imported. We are working to resolve the issue.`
    case "DISCONTINUED":
      return "Connections to this institution are no longer supported. You may create a manual account and use manual transactions to track data for this account."
    case "CLOSED":
      return "This connection has been closed. You may track this account manually. If reopened, you may connect the institution again."
    case "DELAYED":
      return `Importing your data from ${institution} may take a while. Please check back later.`
    case "FAILED":
      return `There was a problem validating your credentials with ${institution}. Please try again later.`
    case "DISABLED":
      return "Importing data from this institution has been disabled. Please contact us if you believe it has been disabled in error."
    case "IMPORTED":
    case "IMPAIRED":
      return `You must re-authenticate before your data can be imported. Please enter your credentials for ${institution}.`
    case "EXPIRED":
      return "The answer or answers were not provided in time. Please try again."
    case "PENDING":
      return `Waiting for the end user to sign in to ${institution}.`
  }
}

/** Statuses after which the credentials must be updated (`needs_updated_credentials`). */
export const needsCredentials: ReadonlySet<string> = new Set(["DENIED", "PREVENTED", "IMPAIRED", "IMPORTED"])
