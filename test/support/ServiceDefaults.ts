// The defaults of the settings issue 9 adds, for the deploy test while src/AppConfig.ts does not have them yet:
// once it does, read them from there (as the test already does for READINESS_TIMEOUT_MS and READINESS_INTERVAL_MS).

/** How long the service keeps serving, not ready, after SIGTERM. */
export const shutdownDrainMillis = 5_000
/** The bound on what follows the drain: closing the listener, in-flight requests, the pool and the client. */
export const shutdownTimeoutMillis = 10_000
/** The status of a not-ready /readyz: 200 (the contract) or 503. */
export const readyzNotReadyStatus = 200
