// The faults suite runs only on purpose: `pnpm test:faults` sets the variable; anything else stops here.
if (process.env.DASHBOARD_FAULTS !== "1") {
  throw new Error("The faults suite is opt-in: run it with `pnpm test:faults` (it sets DASHBOARD_FAULTS=1).")
}
