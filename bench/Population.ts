/**
 * Which MX users and MX Bank members a benchmark creates: `members` members spread over users, a
 * share of them with the `challenge` password (one TEXT MFA round). MX refuses a second member with
 * the same credentials for one user and institution, so a user has at most one MFA member and the
 * others get distinct passwords that connect (`password-1`, `password-2`, …).
 *
 * @since 0.1.0
 */

/**
 * What to create.
 *
 * @since 0.1.0
 * @category models
 */
export interface Plan {
  readonly members: number
  readonly membersPerUser: number
  readonly mfaShare: number
}

/**
 * One user's members, as passwords in creation order.
 *
 * @since 0.1.0
 * @category models
 */
export interface UserPlan {
  readonly id: string
  readonly passwords: ReadonlyArray<string>
}

/**
 * The MX Bank password that asks one TEXT challenge, answered with `correct`.
 *
 * @since 0.1.0
 * @category constants
 */
export const mfaPassword = "challenge"

/**
 * The users and passwords of a plan: MFA members spread evenly over the users, each user's MFA
 * member first.
 *
 * @since 0.1.0
 * @category constructors
 */
export const users = (plan: Plan): ReadonlyArray<UserPlan> => {
  const mfaCount = Math.round(plan.members * plan.mfaShare)
  const userCount = Math.max(Math.ceil(plan.members / plan.membersPerUser), mfaCount)
  const perUser = Array.from({ length: userCount }, () => 0)
  for (let i = 0; i < plan.members; i++) perUser[i % userCount]!++
  return perUser.map((count, u) => {
    const hasMfa = Math.floor(((u + 1) * mfaCount) / userCount) > Math.floor((u * mfaCount) / userCount)
    return {
      id: `bench-user-${u + 1}`,
      passwords: Array.from({ length: count }, (_, j) => (hasMfa && j === 0 ? mfaPassword : `password-${j + 1}`))
    }
  })
}
