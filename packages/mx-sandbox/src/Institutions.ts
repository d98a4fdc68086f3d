/**
 * The institutions the sandbox knows: MX Bank (`mxbank`, MX's own test institution, credentials
 * `mxuser` / a password that picks the outcome) and an OAuth-style MX Bank (`mxbank_oauth`).
 *
 * @since 0.1.0
 */

/**
 * A credential field an institution asks for (MX's `CredentialResponse`).
 *
 * @since 0.1.0
 * @category models
 */
export interface CredentialField {
  readonly guid: string
  readonly field_name: string
  readonly field_type: string
  readonly label: string
  readonly type: string
  readonly display_order: number
}

/**
 * An institution of the sandbox.
 *
 * @since 0.1.0
 * @category models
 */
export interface Institution {
  readonly code: string
  readonly guid: string
  readonly name: string
  readonly url: string
  /** Members connect through an OAuth window rather than credentials. */
  readonly oauth: boolean
  /** MX's minimum time between standard aggregations applies (MX Bank has none). */
  readonly throttled: boolean
  readonly credentials: ReadonlyArray<CredentialField>
}

/**
 * MX Bank's two credential fields. The guids are the ones MX's own documentation shows for
 * MX Bank; the sandbox accepts them in `createMember`.
 *
 * @since 0.1.0
 * @category constants
 */
export const mxbankCredentials: ReadonlyArray<CredentialField> = [
  {
    guid: "CRD-9f61fb4c-912c-bd1e-b175-ccc7f0275cc1",
    field_name: "LOGIN",
    field_type: "TEXT",
    label: "Username",
    type: "LOGIN",
    display_order: 0
  },
  {
    guid: "CRD-e3d7ea81-aac7-05e9-fbdd-4b493c6e474d",
    field_name: "PASSWORD",
    field_type: "PASSWORD",
    label: "Password",
    type: "PASSWORD",
    display_order: 1
  }
]

/**
 * MX Bank: MX's test institution. "There are no aggregation limits on the mxbank institution."
 *
 * @since 0.1.0
 * @category constants
 */
export const mxbank: Institution = {
  code: "mxbank",
  guid: "INS-1572a04c-912b-59bf-5841-332c7dfafaef",
  name: "MX Bank",
  url: "https://www.mxbank.com",
  oauth: false,
  throttled: false,
  credentials: mxbankCredentials
}

/**
 * An OAuth institution: a member is created with `is_oauth: true` and no credentials, waits in
 * PENDING with an `oauth_window_uri`, and aggregates once the window is completed (open the URI,
 * or `Sandbox.completeOAuth`). Standard throttling applies, as at a real institution.
 *
 * @since 0.1.0
 * @category constants
 */
export const mxbankOAuth: Institution = {
  code: "mxbank_oauth",
  guid: "INS-f1a3285d-e855-b68f-6aa7-8ae775c0e0e9",
  name: "MX Bank (OAuth)",
  url: "https://www.mxbank.com",
  oauth: true,
  throttled: true,
  credentials: []
}

/**
 * Every institution, in listing order.
 *
 * @since 0.1.0
 * @category constants
 */
export const all: ReadonlyArray<Institution> = [mxbank, mxbankOAuth]

const byCode = new Map(all.map((institution) => [institution.code, institution]))

/**
 * The institution with a code, if any.
 *
 * @since 0.1.0
 * @category lookups
 */
export const find = (code: string): Institution | undefined => byCode.get(code)
