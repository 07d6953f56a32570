// The prometheus suite runs only on purpose: `pnpm test:prometheus` sets the variable; anything else stops here.
if (process.env.DASHBOARD_PROMETHEUS !== "1") {
  throw new Error(
    "The prometheus suite is opt-in: run it with `pnpm test:prometheus` (it sets DASHBOARD_PROMETHEUS=1)."
  )
}
