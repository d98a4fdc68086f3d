// The control API as the console calls it: same origin, `Authorization: Bearer <token>` on every call,
// JSON in and out, every failure an `ApiError` carrying the RFC 9457 problem the worker answered with.

/** A failed call: the HTTP status (0: the worker could not be reached) and the problem, if any. */
export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {string} message
   * @param {Record<string, unknown> | null} problem
   */
  constructor(status, message, problem) {
    super(message)
    this.name = "ApiError"
    this.status = status
    this.problem = problem
  }
}

/** The problem's own explanation (its `detail` names the fields and what was wrong, never a value). */
const explain = (status, problem) => {
  if (problem !== null && typeof problem.detail === "string") return problem.detail
  if (problem !== null && typeof problem.title === "string") return problem.title
  return `The worker answered ${status}`
}

/** A client of the control API with `token`. */
export class Api {
  /** @param {string} token */
  constructor(token) {
    this.token = token
    // The console is served by the worker at <base>/console/: the API is at <base>/.
    this.base = new URL("../", document.baseURI)
  }

  /**
   * @param {string} method
   * @param {string} path an API path, without its leading slash (`members/counts`)
   * @param {unknown} [body]
   */
  async call(method, path, body) {
    const headers = { accept: "application/json", authorization: `Bearer ${this.token}` }
    if (body !== undefined) headers["content-type"] = "application/json"
    let response
    try {
      response = await fetch(new URL(path, this.base), {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: "no-store",
        credentials: "omit",
        redirect: "error"
      })
    } catch {
      throw new ApiError(0, "The worker cannot be reached", null)
    }
    const text = await response.text()
    let json = null
    try {
      json = text === "" ? null : JSON.parse(text)
    } catch {
      json = null
    }
    if (!response.ok) {
      const problem = json !== null && typeof json === "object" ? json : null
      throw new ApiError(response.status, explain(response.status, problem), problem)
    }
    return json
  }

  /** @param {string} path */
  get(path) {
    return this.call("GET", path)
  }

  /**
   * @param {string} path
   * @param {unknown} [body]
   */
  post(path, body) {
    return this.call("POST", path, body)
  }

  /** GET, with `null` for a 404 (a member with no pending challenge, a member no longer tracked). */
  async find(path) {
    try {
      return await this.get(path)
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) return null
      throw error
    }
  }
}

/** An API path with its query string, leaving out undefined and empty parameters. */
export const withQuery = (path, params) => {
  const query = new URLSearchParams()
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") query.set(key, String(value))
  }
  const text = query.toString()
  return text === "" ? path : `${path}?${text}`
}

/** A path segment, percent-encoded. */
export const segment = (value) => encodeURIComponent(value)
