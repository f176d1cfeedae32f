// Command handlers of the full program. Each takes (positionals, flags, deps) and returns an exit
// code; errors propagate to main(), which reports them.
export { login, token, status, logout } from './core.js';
export { git } from './git.js';
export { kube } from './kube.js';
export { docker } from './docker.js';
export { setup } from './setup.js';
