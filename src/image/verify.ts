/**
 * Stream verification, now in `blob/` (the bottom layer); re-exported for existing importers.
 * @module
 */
export { digestStream, hashFactoryFor, markVerified, readAll, readVerified, verifiedTarget, verifyStream, type VerifyTarget } from '../blob/verify.ts';
