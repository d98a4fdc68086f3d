/** The vitest projects of the monorepo; the root vitest.config.ts feeds this list to `test.projects`. */
export default ["packages/*", "apps/*", "test"]
