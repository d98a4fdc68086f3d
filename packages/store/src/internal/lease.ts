/**
 * A lease on a row: a column naming its holder and a column saying when it lapses (epoch ms). It is
 * taken when nobody holds it, when it lapsed (a holder that died: its replica, MX's answer unknown) or
 * by its holder again (to extend it), and ended only by its holder. Each is one conditional statement,
 * so that of several concurrent takers exactly one wins: on PostgreSQL a concurrent one blocks on the
 * row lock, then re-checks the condition against the committed row and changes nothing; SQLite runs one
 * writer at a time. The leases of the store: a credential update's hold on a member
 * (`TrackedMembers.claimCredentialUpdate`, which a run's claim and an erasure respect) and a
 * submission's hold on an MFA round (`PendingChallenges.claim`, which a run's claim respects).
 */
import type { SqlClient } from "@effect/sql/SqlClient"

/** The SQL fragments of a lease over two columns (`holder`, `expiresAt`, possibly table-qualified). */
export const lease = (sql: SqlClient, columns: { readonly holder: string; readonly expiresAt: string }) => {
  const holder = sql(columns.holder)
  const expiresAt = sql(columns.expiresAt)
  return {
    /** Nobody holds the lease at `now` (it lapsed, or was never taken), or `owner` does. */
    free: (now: number, owner?: string | undefined) =>
      sql`(${holder} IS NULL OR ${expiresAt} <= ${now}${owner === undefined ? sql`` : sql` OR ${holder} = ${owner}`})`,
    /** Someone holds the lease at `now`. */
    held: (now: number) => sql`(${holder} IS NOT NULL AND ${expiresAt} > ${now})`,
    /** `owner` holds the lease: the assignments that take it until `until`. */
    take: (owner: string, until: number) => sql`${holder} = ${owner}, ${expiresAt} = ${until}`,
    /** The assignments that end the lease. */
    end: sql`${holder} = NULL, ${expiresAt} = NULL`,
    /** `owner` holds the lease (lapsed or not): only the holder ends it. */
    heldBy: (owner: string) => sql`${holder} = ${owner}`
  }
}

/** A credential update's hold on a member (`tracked_members`). */
export const credentialUpdateLease = (sql: SqlClient) =>
  lease(sql, { holder: "credential_update_by", expiresAt: "credential_update_expires_at" })

/** A submission's hold on an MFA round (`pending_challenges`, or its alias `table`). */
export const answersSubmissionLease = (sql: SqlClient, table?: string) => {
  const prefix = table === undefined ? "" : `${table}.`
  return lease(sql, { holder: `${prefix}claimed_by`, expiresAt: `${prefix}claim_expires_at` })
}
