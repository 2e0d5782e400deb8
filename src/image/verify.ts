/**
 * Stream verification, now in `blob/` (the bottom layer); re-exported for existing importers.
 * @module
 */
export { digestStream, hashFactoryFor, readAll, readVerified, verifiedTarget, VerifiedStream, verifyStream, type VerifyTarget } from '../blob/verify.ts';
