/**
 * Presets: ready-made build options for common kinds of app.
 * @module
 */
export { nodeApp, neverCopied, parseCreationTime } from './node.ts';
export type { NodeAppBuildOptions, NodeAppInfo, NodeAppOptions } from './node.ts';
export { owningPackage, selectDependencies } from './lockfile.ts';
export type { DependencySelection, LockfileKind } from './lockfile.ts';
export { parsePasswd, readImageFile, resolveUser } from './passwd.ts';
export type { PasswdUser } from './passwd.ts';
export { baseUsers } from './base-user.ts';
export { watchNodeApp } from './watch.ts';
export type { WatchEvent, WatchNodeAppOptions } from './watch.ts';
export type { BaseUsers, BaseUsersOptions } from './base-user.ts';
