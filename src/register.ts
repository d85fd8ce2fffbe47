// node --import reaper-init/register app.js
// Starts in-process reaping before the app runs. Options come from the
// environment: REAPER_SUBREAPER=0 keeps the subreaper bit off,
// REAPER_HANDLE_SIGNALS=0 leaves SIGTERM/SIGINT/SIGHUP alone as PID 1.
import { startReaper } from './library.js';

const off = (value: string | undefined) => value !== undefined && /^(0|false|no|off)$/i.test(value.trim());

startReaper({
  subreaper: !off(process.env.REAPER_SUBREAPER),
  handleTerminationSignals: !off(process.env.REAPER_HANDLE_SIGNALS),
});
