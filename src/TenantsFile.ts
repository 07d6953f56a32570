// The tenants file (TENANTS_FILE): decoded with Schema into each tenant's targets. A problem is reported naming the
// tenant and the field, never the value: a URL or a password may be in it.
import * as Data from "effect/Data"
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import type * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { createHash } from "node:crypto"
import { redisUrlProblem } from "./layers/RedisErrors.js"

/** A whole database of its own: the tenant's pool connects to `url`. */
export interface PostgresDatabaseTarget {
  readonly _tag: "database"
  readonly url: Redacted.Redacted
  readonly maxConnections: number
  readonly idleTimeoutMs: number
}

/** A schema in the shared database (DATABASE_URL), checked as `role` when given. */
export interface PostgresSchemaTarget {
  readonly _tag: "schema"
  readonly schema: string
  readonly role?: string | undefined
}

/** A Redis of its own (the URL may carry an ACL user and password). */
export interface RedisUrlTarget {
  readonly _tag: "url"
  readonly url: Redacted.Redacted
  readonly keyPrefix?: string | undefined
}

/** The shared Redis (REDIS_URL's host, port and database) as the tenant's own ACL user, on its key prefix. */
export interface RedisUserTarget {
  readonly _tag: "user"
  readonly user: string
  readonly password: Redacted.Redacted
  readonly keyPrefix: string
}

export interface TenantConfig {
  readonly id: string
  readonly postgres: PostgresDatabaseTarget | PostgresSchemaTarget
  readonly redis: RedisUrlTarget | RedisUserTarget
  /** Identifies this tenant's configuration (a digest: it holds no secret); a reload rebuilds a tenant whose key changed. */
  readonly key: string
}

export class TenantsFileInvalid extends Data.TaggedError("TenantsFileInvalid")<{
  /** One line each, naming the tenant and the field. */
  readonly problems: ReadonlyArray<string>
}> {
  override get message(): string {
    return this.problems.join("; ")
  }
}

export const tenantIdPattern = /^[a-z0-9][a-z0-9_-]{0,62}$/

const withMessage = <A, I>(schema: Schema.Schema<A, I>, text: string): Schema.Schema<A, I> =>
  schema.annotations({ message: () => ({ message: text, override: true }) })

const parsesAs =
  (protocols: ReadonlyArray<string>, problem: (url: URL) => string | undefined = () => undefined) =>
  (text: string): boolean => {
    try {
      const url = new URL(text)
      return protocols.includes(url.protocol) && url.hostname !== "" && problem(url) === undefined
    } catch {
      return false
    }
  }

const secretUrl = (protocols: ReadonlyArray<string>, problem?: (url: URL) => string | undefined) =>
  Schema.Redacted(
    withMessage(
      Schema.String.pipe(Schema.filter(parsesAs(protocols, problem))),
      `must be a URL starting with ${protocols.map((p) => `${p}//`).join(" or ")}`
    )
  )

const Id = withMessage(Schema.String.pipe(Schema.pattern(tenantIdPattern)), `must match ${tenantIdPattern.source}`)

// PostgreSQL identifiers as an operator writes them: no quoting games.
const identifierPattern = /^[A-Za-z_][A-Za-z0-9_$]{0,62}$/
const Identifier = withMessage(
  Schema.String.pipe(Schema.pattern(identifierPattern)),
  `must be a PostgreSQL identifier (${identifierPattern.source})`
)

const wholeNumber = (minimum: number, maximum: number) =>
  withMessage(
    Schema.Number.pipe(Schema.int(), Schema.between(minimum, maximum)),
    `must be a whole number from ${minimum} to ${maximum}`
  )

const PostgresDatabase = Schema.Struct({
  url: secretUrl(["postgres:", "postgresql:"]),
  maxConnections: Schema.optionalWith(wholeNumber(1, 100), { default: () => 2 }),
  idleTimeoutMs: Schema.optionalWith(wholeNumber(0, 3_600_000), { default: () => 10_000 })
})

const PostgresSchema = Schema.Struct({
  schema: Identifier,
  role: Schema.optional(Identifier)
})

const KeyPrefix = withMessage(
  Schema.String.pipe(Schema.pattern(/^[^\s]{1,128}$/)),
  "must be 1 to 128 characters without spaces"
)

const RedisUrl = Schema.Struct({
  url: secretUrl(["redis:", "rediss:"], redisUrlProblem),
  keyPrefix: Schema.optional(KeyPrefix)
})

const RedisUser = Schema.Struct({
  user: withMessage(Schema.String.pipe(Schema.pattern(/^[^\s:@]{1,128}$/)), "must be a Redis ACL user name"),
  password: Schema.Redacted(withMessage(Schema.String.pipe(Schema.minLength(1)), "must be a non-empty string")),
  keyPrefix: KeyPrefix
})

const TenantShape = Schema.Struct({ id: Id, postgres: Schema.Unknown, redis: Schema.Unknown }).annotations({
  message: () => "must be an object with id, postgres and redis"
})
const FileShape = Schema.Struct({
  tenants: withMessage(Schema.Array(Schema.Unknown), "must be an array of tenants")
}).annotations({ message: () => "must be an object with a tenants array" })

const options = { errors: "all", onExcessProperty: "error" } as const

interface Problem {
  readonly path: ReadonlyArray<PropertyKey>
  readonly message: string
}

// Schema's own messages end in `, actual <value>`; the value is never repeated back.
const withoutValue = (message: string) => message.replace(/,?\s*actual[\s\S]*$/i, "")

// One problem per field: an optional field's schema is a union with `undefined`, which would add "Expected undefined".
const decode = <A, I>(schema: Schema.Schema<A, I>, input: unknown): Either.Either<A, ReadonlyArray<Problem>> =>
  Either.mapLeft(Schema.decodeUnknownEither(schema, options)(input), (error) => {
    const byField = new Map<string, Problem>()
    for (const issue of ParseResult.ArrayFormatter.formatErrorSync(error)) {
      const field = issue.path.map(String).join(".")
      if (!byField.has(field)) byField.set(field, { path: issue.path, message: withoutValue(issue.message) })
    }
    return [...byField.values()]
  })

const isObject = (input: unknown): input is Record<string, unknown> =>
  typeof input === "object" && input !== null && !Array.isArray(input)

const decodePostgres = (input: unknown): Either.Either<TenantConfig["postgres"], ReadonlyArray<Problem>> => {
  if (isObject(input) && "url" in input) {
    return Either.map(decode(PostgresDatabase, input), (target) => ({ _tag: "database", ...target }) as const)
  }
  if (isObject(input) && "schema" in input) {
    return Either.map(decode(PostgresSchema, input), (target) => ({ _tag: "schema", ...target }) as const)
  }
  return Either.left([{ path: [], message: "must be {url, maxConnections?, idleTimeoutMs?} or {schema, role?}" }])
}

const decodeRedis = (input: unknown): Either.Either<TenantConfig["redis"], ReadonlyArray<Problem>> => {
  if (isObject(input) && "url" in input) {
    return Either.map(decode(RedisUrl, input), (target) => ({ _tag: "url", ...target }) as const)
  }
  if (isObject(input) && ("user" in input || "password" in input || "keyPrefix" in input)) {
    return Either.map(decode(RedisUser, input), (target) => ({ _tag: "user", ...target }) as const)
  }
  return Either.left([{ path: [], message: "must be {url, keyPrefix?} or {user, password, keyPrefix}" }])
}

const fieldOf = (path: ReadonlyArray<PropertyKey>, whole: string) =>
  path.length === 0 ? whole : path.map(String).join(".")

/** Decodes the file's text. Never throws; every problem names its tenant (by id when it has a valid one) and field. */
export const decodeTenantsFile = (text: string): Either.Either<ReadonlyArray<TenantConfig>, TenantsFileInvalid> => {
  let json: unknown
  try {
    json = JSON.parse(text)
  } catch {
    // JSON.parse's message quotes the text around the error, which may be a password.
    return Either.left(new TenantsFileInvalid({ problems: ["the file is not valid JSON"] }))
  }
  const file = decode(FileShape, json)
  if (Either.isLeft(file)) {
    return Either.left(
      new TenantsFileInvalid({ problems: file.left.map((p) => `${fieldOf(p.path, "file")}: ${p.message}`) })
    )
  }
  const problems: Array<string> = []
  const tenants: Array<TenantConfig> = []
  const seen = new Set<string>()
  file.right.tenants.forEach((entry, index) => {
    const rawId = isObject(entry) && typeof entry.id === "string" && tenantIdPattern.test(entry.id)
      ? entry.id
      : undefined
    const name = rawId === undefined ? `tenants[${index}]` : `tenant "${rawId}" (tenants[${index}])`
    const report = (prefix: string) => (found: ReadonlyArray<Problem>) => {
      for (const problem of found) {
        const path = [...(prefix === "" ? [] : [prefix]), ...problem.path]
        problems.push(`${name}: ${fieldOf(path, "tenant")}: ${problem.message}`)
      }
    }
    const shape = decode(TenantShape, entry)
    if (Either.isLeft(shape)) return report("")(shape.left)
    const postgres = decodePostgres(shape.right.postgres)
    const redis = decodeRedis(shape.right.redis)
    if (Either.isLeft(postgres)) report("postgres")(postgres.left)
    if (Either.isLeft(redis)) report("redis")(redis.left)
    if (seen.has(shape.right.id)) problems.push(`${name}: id: is not unique`)
    seen.add(shape.right.id)
    if (Either.isRight(postgres) && Either.isRight(redis)) {
      const key = createHash("sha256").update(JSON.stringify(entry)).digest("base64url")
      tenants.push({ id: shape.right.id, postgres: postgres.right, redis: redis.right, key })
    }
  })
  return problems.length === 0 ? Either.right(tenants) : Either.left(new TenantsFileInvalid({ problems }))
}
