/**
 * The suites that run fleets of worker daemons for minutes (the reliability subset, the failover of a
 * killed replica): `npm run test:fleet` runs them (`MX_TEST_SUITES=fleet`), `npm test` the others.
 */
export declare const fleetSuites: string[];
/** Cross-package tests: end-to-end, conformance, reliability. PostgreSQL is embedded unless PG_URL is set. */
declare const _default: import("vite").UserConfig;
export default _default;
//# sourceMappingURL=vitest.config.d.ts.map