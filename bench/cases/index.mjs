// Every benchmark case, in the order `npm run bench` runs them: bench/cases/<name>.mjs. Adding a
// case is its file plus its name here (see docs/benchmarks.md, "Adding a case").
export const caseNames = ['startup', 'add', 'status', 'checkout', 'verify', 'status-100k', 'add-big', 'push-pull', 'history', 'export', 'export-big', 'batch', 'catalog', 'million'];
