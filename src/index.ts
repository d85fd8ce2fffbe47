// reaper as a library: in-process reaping for a Node app that is its own
// PID 1 (or a subreaper), the zombie census, and the exit-status helpers.
// Importing this module has no side effects. The CLI's supervisor is not
// here: it installs process-wide signal handlers and owns every child, which
// only the reaper process itself may do (run it as the `reaper` bin).
export { startReaper, type Reaper, type ReaperOptions, type ReaperConfig, type ReaperEvents, type ReapEvent, type ReaperStats } from './library/library.js';
export { zombieCensus, census, parseCgroupPath, CENSUS_SCHEMA_VERSION, type ZombieGroup, type ZombieParent, type ParentKind, type CgroupOwner, type CensusReport } from './census/census.js';
export { exitCodeOf, describeStatus, type ExitStatus } from './core/exit-status.js';
export { ReaperError } from './core/errors.js';
