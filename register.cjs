// node -r reaper-init/register app.js (CommonJS preload). The library is ESM, so
// it is loaded asynchronously: reaping starts before the first SIGCHLD can
// be handled, as the import settles within the first turn of the event loop.
import('./dist/register.js');
