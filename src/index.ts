// reaper as a library. Importing this module has no side effects.
export { supervise, type SupervisorResult } from './supervisor.js';
export { parseInvocation, type RunOptions, type Invocation, type Flavour } from './args.js';
export type { Logger, LevelName, LogFormat, Fields } from './log.js';
export { exitCodeOf, describeStatus, type ExitStatus } from './exit-status.js';
export { ReaperError, UsageError } from './errors.js';
export type { DrainReport, DrainedProcess, DrainScope } from './drain.js';
export type { DeathExplanation } from './oom.js';
export { startReaper, type Reaper, type ReaperOptions, type ReaperConfig, type ReaperEvents, type ReapEvent, type ReaperStats } from './library.js';
export { zombieCensus, census, parseCgroupPath, CENSUS_SCHEMA_VERSION, type ZombieGroup, type ZombieParent, type ParentKind, type CgroupOwner, type CensusReport } from './census.js';
