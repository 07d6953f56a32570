// The lb suite runs only on purpose: `pnpm test:lb` sets the variable; anything else stops here.
if (process.env.DASHBOARD_LB !== "1") {
  throw new Error("The lb suite is opt-in: run it with `pnpm test:lb` (it sets DASHBOARD_LB=1).")
}
