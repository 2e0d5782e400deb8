/**
 * File helpers, now in `blob/` (the bottom layer); re-exported for existing importers.
 * @module
 */
export {
  describeFsError,
  isErrno,
  processAlive,
  readFileStream,
  sweepStaleTempFiles,
  tempName,
  writeVerifiedFile,
  type ReadFileOptions,
  type WriteVerifiedOptions,
} from '../blob/files.ts';
