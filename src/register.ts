// node --import reaper-init/register app.js
// Starts in-process reaping before the app runs. Options come from the
// environment: REAPER_SUBREAPER=0 keeps the subreaper bit off,
// REAPER_HANDLE_SIGNALS=0 leaves SIGTERM/SIGINT/SIGHUP alone as PID 1.
// A variable that is not set leaves its option out, so the app's own
// startReaper() options decide (with -r the app may well call it first).
import { ReaperError } from './core/errors.js';
import { startReaper, type ReaperOptions } from './library/library.js';

function flag(name: string): boolean | undefined {
  const value = process.env[name]?.trim();
  if (value === undefined || value === '') return undefined;
  if (/^(1|true|yes|on)$/i.test(value)) return true;
  if (/^(0|false|no|off)$/i.test(value)) return false;
  process.emitWarning(`${name}=${JSON.stringify(value)} is neither 1 nor 0; reaper-init/register uses the default.`);
  return undefined;
}

const options: ReaperOptions = {
  subreaper: flag('REAPER_SUBREAPER'),
  handleTerminationSignals: flag('REAPER_HANDLE_SIGNALS'),
};
try {
  startReaper(options);
} catch (error) {
  // The app started a reaper of its own first, with options the environment
  // contradicts: a preload must not crash the app; the app's reaper runs.
  if (!(error instanceof ReaperError && error.code === 'ERR_REAPER_ALREADY_STARTED')) throw error;
  process.emitWarning(`reaper-init/register: ${error.message}`);
}
